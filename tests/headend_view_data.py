"""One story for the headend view and the pre-dark trend, shared by the console,
API and CLI tests: a DOCSIS modem whose downstream SNR slid 37 -> 31 -> 25 dB
over 15 min, then went dark, while its CMTS reports it offline with the
upstream levels and codewords it measured; a second line on the same CMTS
that its last poll has no row for; a third on a node without a headend.
"""

from __future__ import annotations

import time

from collector_harness import dark, ping_ok

from probes.model import (
    CmtsModem,
    DocsisLine,
    DownstreamChannel,
    Headend,
    HeadendReading,
    ProbeRecord,
    SnmpReading,
    Target,
    UpstreamChannel,
)

DARK = "ACC-DARK"  # degrading, then dark; its CMTS row says offline
UNSEEN = "ACC-UNSEEN"  # same CMTS, no row in its poll
BARE = "ACC-BARE"  # node N-9: no headend configured
HEADEND = "CMTS-N-1"
MAC = "02:4c:57:00:00:01"
SNRS = (37.0, 31.0, 25.0)
# A value a page must show escaped, never as markup.
HOSTILE_STATUS_NOTE = "<b>x</b>"


def targets() -> list[Target]:
    def t(account: str, node: str, mac: str | None) -> Target:
        return Target(account=account, host=f"127.20.9.{len(account) + 1}", technology="docsis",
                      node=node, plan_down_mbps=250.0, plan_up_mbps=25.0, mac=mac)
    return [t(DARK, "N-1", MAC), t(UNSEEN, "N-1", "02:4c:57:00:00:02"), t(BARE, "N-9", None)]


def headends() -> list[Headend]:
    return [Headend(headend=HEADEND, host="127.20.9.200", kind="cmts", nodes=["N-1"])]


def docsis(account: str, at: float, snr: float) -> ProbeRecord:
    channels = [DownstreamChannel(index=i, power_dbmv=1.5, snr_db=snr, unerrored=1000 * i,
                                  corrected=0, uncorrectable=0) for i in range(1, 5)]
    return ProbeRecord(
        account=account, probe="snmp", started_at=at, duration_s=0.1,
        result=SnmpReading(sys_uptime_s=86_400.0 + at % 1000, line=DocsisLine(
            downstream=channels, upstream=[UpstreamChannel(index=1, tx_power_dbmv=44.0)],
            cm_status=12, t3_timeouts=0, t4_timeouts=0)),
    )


def cmts_poll(at: float) -> ProbeRecord:
    row = CmtsModem(mac=MAC, account=DARK, status="other", us_channel=3,
                    us_rx_power_dbmv=-4.5, us_snr_db=24.8, unerrored=123456, corrected=789,
                    uncorrectable=4321)
    return ProbeRecord(account=HEADEND, probe="headend", started_at=at, duration_s=0.4,
                       result=HeadendReading(headend=HEADEND, kind="cmts", modems=[row]))


def story(now: float | None = None) -> list[list[ProbeRecord]]:
    """Batches in order: three readings 5 min apart, the dark poll, the CMTS poll."""
    now = time.time() if now is None else now
    batches = []
    for k, snr in enumerate(SNRS):
        at = now - 1200 + 300 * k
        batches.append([docsis(DARK, at, snr), ping_ok(DARK, at), docsis(UNSEEN, at, 38.0),
                        docsis(BARE, at, 38.0)])
    batches.append([*dark(DARK, now - 60)])
    batches.append([cmts_poll(now - 30)])
    return batches
