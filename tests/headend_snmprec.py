"""Synthetic headend recordings (snmpsim ``.snmprec``) with known values, for the
headend probe's tests and bench/bench_headend.py.

``synthetic_cmts(n)`` is a CMTS with ``n`` modems in the standard per-modem
tables (DOCS-IF-MIB docsIfCmtsCmStatusTable, DOCS-IF3-MIB
docsIf3CmtsCmRegStatusTable / docsIf3CmtsCmUsStatusTable) and its upstream
channels in docsIfSignalQualityTable; the expected reading is computed from
the same numbers, never read back through the probe.
"""

from __future__ import annotations

from dataclasses import dataclass

from probes.model import CmtsModem, CmtsModemUpstream, UpstreamQuality

DOCS_IF = "1.3.6.1.2.1.10.127.1"
DOCS_IF3 = "1.3.6.1.4.1.4491.2.1.20.1"
CM_STATUS = {1: "other", 2: "ranging", 6: "registrationComplete", 8: "operational"}
REG_STATUS = {2: "initialRanging", 8: "operational"}
# snmprec tags: Integer 2, OctetString 4 (4x = hex), Counter32 65, Gauge32 66,
# TimeTicks 67, Counter64 70.
Row = tuple[str, str, str]


@dataclass
class SyntheticCmts:
    text: str  # the .snmprec
    modems: list[CmtsModem]  # expected, in docsIfCmtsCmStatusIndex order
    upstreams: list[UpstreamQuality]  # expected


def mac_of(i: int) -> str:
    return f"00:10:18:{(i >> 16) & 0xFF:02x}:{(i >> 8) & 0xFF:02x}:{i & 0xFF:02x}"


def eq_data(i: int) -> bytes:
    """A DocsEqualizerData header (main tap 8, 1 tap/symbol, 8 forward taps) + taps."""
    taps = b"".join(((i + k) % 256).to_bytes(2, "big") + b"\x00\x00" for k in range(8))
    return bytes([8, 1, 8, 0]) + taps


def snmprec(rows: list[Row]) -> str:
    """Rows sorted as OIDs (snmpsim answers GETNEXT in file order)."""
    rows = sorted(rows, key=lambda r: tuple(int(x) for x in r[0].split(".")))
    return "".join(f"{oid}|{tag}|{value}\n" for oid, tag, value in rows)


def synthetic_cmts(
    modems: int, us_channels: int = 4, *, per_channel_codewords: bool = False
) -> SyntheticCmts:
    """The recording always has every column; ``per_channel_codewords`` says whether
    the expected reading has docsIf3CmtsCmUsStatus codewords (the built-in profile
    does not walk them; probes.snmp.headend_profiles.CM_US_STATUS_EXTRA adds them)."""
    rows: list[Row] = [
        ("1.3.6.1.2.1.1.1.0", "4", "Synthetic CMTS (linewatch tests)"),
        ("1.3.6.1.2.1.1.3.0", "67", "123456789"),
    ]
    channels = [11 + c for c in range(us_channels)]
    upstreams = []
    for c, ch in enumerate(channels):
        rows += [
            (f"1.3.6.1.2.1.31.1.1.1.1.{ch}", "4", f"Upstream {c}"),
            (f"1.3.6.1.2.1.2.2.1.8.{ch}", "2", "1"),
            (f"{DOCS_IF}.1.4.1.2.{ch}", "65", str(1000 + c)),
            (f"{DOCS_IF}.1.4.1.3.{ch}", "65", str(10 + c)),
            (f"{DOCS_IF}.1.4.1.4.{ch}", "65", str(c)),
            (f"{DOCS_IF}.1.4.1.5.{ch}", "2", str(300 + c)),
            (f"{DOCS_IF}.1.4.1.8.{ch}", "70", str(2**40 + c)),
            (f"{DOCS_IF}.1.4.1.9.{ch}", "70", str(10 + c)),
            (f"{DOCS_IF}.1.4.1.10.{ch}", "70", str(c)),
        ]
        upstreams.append(UpstreamQuality(
            index=ch, name=f"Upstream {c}", oper_up=True, snr_db=(300 + c) / 10,
            unerrored=2**40 + c, corrected=10 + c, uncorrectable=c,
        ))
    expected = []
    for i in range(1, modems + 1):
        mac = mac_of(i)
        status = 2 if i % 50 == 0 else 8
        reg = 2 if i % 50 == 0 else 8
        us = channels[i % us_channels]
        rx = (i % 60) - 30  # TenthdBmV
        snr = 300 + i % 100  # TenthdB
        regid = 100000 + i
        cm = f"{DOCS_IF}.3.3.1"
        rows += [
            (f"{cm}.2.{i}", "4x", mac.replace(":", "")),
            (f"{cm}.4.{i}", "2", "4"),
            (f"{cm}.5.{i}", "2", str(us)),
            (f"{cm}.6.{i}", "2", str(rx)),
            (f"{cm}.8.{i}", "4x", eq_data(i).hex()),
            (f"{cm}.9.{i}", "2", str(status)),
            (f"{cm}.10.{i}", "65", str(5000 + i)),
            (f"{cm}.11.{i}", "65", str(i % 7)),
            (f"{cm}.12.{i}", "65", str(i % 3)),
            (f"{cm}.13.{i}", "2", str(snr)),
            (f"{cm}.15.{i}", "70", str(2**33 + i)),
            (f"{cm}.16.{i}", "70", str(i % 7)),
            (f"{cm}.17.{i}", "70", str(i % 3)),
            (f"{DOCS_IF3}.3.1.2.{regid}", "4x", mac.replace(":", "")),
            (f"{DOCS_IF3}.3.1.6.{regid}", "2", str(reg)),
        ]
        ups = []
        for c, ch in enumerate(channels):
            us_rx = 20 + (i + c) % 40
            us_snr = 320 + (i + c) % 50
            u = f"{DOCS_IF3}.4.1"
            rows += [
                (f"{u}.3.{regid}.{ch}", "2", str(us_rx)),
                (f"{u}.4.{regid}.{ch}", "2", str(us_snr)),
                (f"{u}.7.{regid}.{ch}", "65", str(1000 * i + c)),
                (f"{u}.8.{regid}.{ch}", "65", str(c)),
                (f"{u}.9.{regid}.{ch}", "65", str((i + c) % 2)),
            ]
            counters = {"unerrored": 1000 * i + c, "corrected": c,
                        "uncorrectable": (i + c) % 2} if per_channel_codewords else {}
            ups.append(CmtsModemUpstream(
                index=ch, rx_power_dbmv=us_rx / 10, snr_db=us_snr / 10, **counters,
            ))
        expected.append(CmtsModem(
            mac=mac, status=CM_STATUS[status], reg_status=REG_STATUS[reg],  # type: ignore[arg-type]
            ds_channel=4, us_channel=us, us_rx_power_dbmv=rx / 10, us_snr_db=snr / 10,
            unerrored=2**33 + i, corrected=i % 7, uncorrectable=i % 3, equalization=eq_data(i),
            upstream=ups,
        ))
    return SyntheticCmts(snmprec(rows), expected, upstreams)
