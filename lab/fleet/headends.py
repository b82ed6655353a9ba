"""The headend of each node: a CMTS, DSLAM or OLT answering SNMP beside its modems.

Why: the verdict fuses the headend's view with the modem's own (issue 15), so
the lab needs headends whose tables say what a real one would about the same
modems at the same instant: rows keyed by the modems' MACs (DSLAM ports by
ifName, ONTs by serial), the levels the headend measures derived from the
modem's own values, and each fault's story as the headend tells it
(``Effects.headend``: online, ranging or offline). It serves exactly the
tables the built-in headend profiles read (probes/snmp/headend_profiles.py,
docs/CONTRACTS.md "Headends"), so the probe reads it unchanged.

Node k's headend answers on ``Layout.headend_address(k)`` (base + 1 + modems +
k: past the last modem) at the fleet's SNMP port and community; Ethernet nodes
have none. Its id is ``<KIND>-<node>`` (``CMTS-NODE-01``). A ``headend_dark``
fault on the node makes it answer nobody (as root the kernel rejects it too).

What each kind shows per modem:
- CMTS: docsIfCmtsCmStatusTable (row = the modem's place on the node + 1):
  MAC, downstream/upstream ifIndex, upstream receive power (the modem's TX power
  on its first upstream minus its plant loss: around 0 dBmV, the CMTS's set
  point), upstream SNR, codewords (Counter32 and Counter64), the pre-equalizer
  (lab/fleet/equalizer.py) and docsIfCmtsCmStatusValue: registrationComplete(6)
  online, ranging(2) while ranging, other(1) offline; docsIf3CmtsCmRegStatusTable
  with operational(8) / initialRanging(2) / other(1); docsIf3CmtsCmUsStatusTable per
  modem and upstream (levels, EqData, codewords); docsIfSignalQualityTable per
  CMTS upstream (ifIndex 1001..). An offline modem keeps its row (MAC, status)
  without levels, as CMTSes list modems that dropped off.
- DSLAM (ADSL2+): per line port (ifIndex = place + 1, ifName ``adsl1/B/P``, its
  interleaved channel 1000 + place + 1 stacked on it in ifStackTable) both ends'
  margins, attenuation and attainable rates (the modem's own values) and the
  sync rates; ifOperStatus up(1), down(2) when the modem is offline, its levels
  then "no value" (2147483647).
- OLT (Huawei HUAWEI-XPON-MIB, index ponIfIndex.ontId, 128 ONTs a PON port):
  ONT serial (``LWLB`` + 4 octets), run status online(1)/offline(2), ONT Tx/Rx
  (the ONT's own sensor values) and the OLT's Rx of the ONT (its Tx minus the
  same path loss + 0.5 dB), in 0.01 dBm; 2147483647 when offline.

A snapshot of a headend's tables is built at most once a second per headend
(and at once after a fault changes), so the requests of one walk see one
consistent table; a big one (a 2,000-modem CMTS takes ~0.3 s to build) lives
5x its build time, so the fleet's loop is not mostly rebuilding it.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from lab.fleet.layout import (
    Layout,
    dsl_port_name,
    mac_bytes,
    node_name,
    ont_serial,
    salt,
)
from lab.fleet.mib import IF_ENTRY, IFX_ENTRY, LAB_ENTERPRISE, SYSTEM, Template, _Builder
from lab.fleet.responder import Unsupported, respond
from lab.fleet.values import ModemView
from probes.model import HEADEND_KIND_OF, Headend
from probes.snmp.ber import (
    BerError,
    Counter32,
    Counter64,
    Gauge32,
    ObjectId,
    TimeTicks,
    Value,
    decode_message,
    encode_message,
    parse_oid,
)

if TYPE_CHECKING:
    from lab.fleet.fleet import Fleet

log = logging.getLogger(__name__)

SNAPSHOT_S = 1.0  # a headend's tables are rebuilt at most this often...
SNAPSHOT_COST = 5.0  # ...and at most once per 5x what a rebuild took (a 2,000-modem CMTS)
HEADEND_AGE_S = 30 * 86400.0  # headends have been up a month when the fleet starts

_DOCS_IF = parse_oid("1.3.6.1.2.1.10.127.1")
SIGQ = (*_DOCS_IF, 1, 4, 1)  # docsIfSignalQualityEntry
CM_STATUS = (*_DOCS_IF, 3, 3, 1)  # docsIfCmtsCmStatusEntry
_DOCS_IF3 = parse_oid("1.3.6.1.4.1.4491.2.1.20.1")
CM_REG = (*_DOCS_IF3, 3, 1)  # docsIf3CmtsCmRegStatusEntry
CM_US = (*_DOCS_IF3, 4, 1)  # docsIf3CmtsCmUsStatusEntry
_ADSL = parse_oid("1.3.6.1.2.1.10.94.1.1")
IF_STACK_STATUS = parse_oid("1.3.6.1.2.1.31.1.2.1.3")
_HW_XPON = parse_oid("1.3.6.1.4.1.2011.6.128.1.1.2")

# RFC 4546 docsIfCmtsCmStatusValue and DOCS-IF3 CmtsCmRegState, by headend state.
CM_STATUS_VALUE = {"online": 6, "ranging": 2, "offline": 1}
CM_REG_VALUE = {"online": 8, "ranging": 2, "offline": 1}
DS_IF_INDEX = 1
US_IF_BASE = 1000  # the CMTS's upstream channel c is ifIndex 1001 + c
DSL_CHANNEL_BASE = 1000
PON_IF_BASE = 4194312448  # Huawei's ifIndex of GPON 0/1/0; each port + 256
ONTS_PER_PON = 128
NO_VALUE = 2147483647
OLT_LAUNCH_DBM = 3.0

_TX, _USSNR, _CW = salt("tx"), salt("ussnr"), salt("hecw")
_KIND_MODEL = {"cmts": 11, "dslam": 12, "olt": 13}
_DESCR = {
    "cmts": "LW-CMTS 9000 DOCSIS 3.0 CMTS (Linewatch Lab)",
    "dslam": "LW-DSLAM 480 ADSL2+ IP DSLAM (Linewatch Lab)",
    "olt": "LW-OLT 5800 GPON OLT, HUAWEI-XPON-MIB compatible (Linewatch Lab)",
}


def headend_id(kind: str, node: str) -> str:
    return f"{kind.upper()}-{node}"


def _const(value: Value) -> Callable[[ModemView], Value]:
    return lambda v: value


class _Rows:
    """A headend's tables while they are built: OID -> value, then a Template."""

    def __init__(self, name: str) -> None:
        self.b = _Builder(name)

    def put(self, column: tuple[int, ...], index: tuple[int, ...], value: Value) -> None:
        self.b.add(column, index, _const(value))

    def build(self) -> Template:
        return self.b.build(lan_if_index=0)


class Headends:
    """The fleet's headends: who they are, their inventory, and their SNMP answers."""

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        self.layout: Layout = fleet.layout
        self._snapshots: dict[int, tuple[float, float, int, Template]] = {}
        self.requests = 0
        self.responses = 0
        self.silent = 0  # requests to a dark headend

    # --- who ---------------------------------------------------------------------------

    def kind(self, node_index: int) -> str | None:
        return HEADEND_KIND_OF.get(self.layout.node_technology(node_index))

    def _by_node(self) -> list[tuple[int, Headend]]:
        """(node index, Headend) for every node that has one (Ethernet nodes: none)."""
        out = []
        for k in range(self.layout.nodes):
            kind = self.kind(k)
            if kind is None:
                continue
            node = node_name(k)
            out.append((k, Headend(headend=headend_id(kind, node),
                                   host=self.layout.headend_address(k), kind=kind,  # type: ignore[arg-type]
                                   nodes=[node], port=self.fleet.port)))
        return out

    def inventory(self) -> list[Headend]:
        return [h for _, h in self._by_node()]

    def dark(self, node_index: int) -> bool:
        return any(f.kind == "headend_dark" for f in self.fleet.faults.node_faults(node_index))

    def summary(self) -> list[dict[str, Any]]:
        return [{"headend": h.headend, "kind": h.kind, "host": h.host, "port": h.port,
                 "nodes": h.nodes, "answering": not self.dark(k)}
                for k, h in self._by_node()]

    # --- SNMP --------------------------------------------------------------------------

    def handle(self, node_index: int, data: bytes) -> bytes | None:
        """One request to node ``node_index``'s headend; None: no answer."""
        stats = self.fleet.stats
        self.requests += 1
        kind = self.kind(node_index)
        if kind is None:
            stats.not_a_modem += 1
            return None
        try:
            msg = decode_message(data)
        except BerError:
            stats.malformed += 1
            return None
        if msg.community != self.fleet.community:
            stats.bad_community += 1
            return None
        if self.dark(node_index):
            self.silent += 1
            return None
        tpl = self.snapshot(node_index, kind)
        try:
            reply = respond(msg, tpl, None)  # type: ignore[arg-type]  # constant getters
        except Unsupported:
            stats.unsupported += 1
            return None
        self.responses += 1
        return encode_message(reply)

    def snapshot(self, node_index: int, kind: str, now: float | None = None) -> Template:
        """The headend's tables now (cached for SNAPSHOT_S or until a fault changes)."""
        now = self.fleet.clock() if now is None else now
        version = self.fleet.fault_version
        held = self._snapshots.get(node_index)
        if held is not None and held[2] == version and 0.0 <= now - held[0] < held[1]:
            return held[3]
        started = time.perf_counter()
        rows = _Rows(f"{kind}-{node_index}")
        self._system(rows, kind, node_index, now)
        views = [self.fleet.view(i, now) for i in self.layout.node_range(node_index)]
        if kind == "cmts":
            _cmts(rows, views, now - self._boot())
        elif kind == "dslam":
            _dslam(rows, views)
        else:
            _olt(rows, views)
        tpl = rows.build()
        ttl = max(SNAPSHOT_S, SNAPSHOT_COST * (time.perf_counter() - started))
        self._snapshots[node_index] = (now, ttl, version, tpl)
        return tpl

    def _boot(self) -> float:
        return self.fleet.epoch - HEADEND_AGE_S

    def _system(self, rows: _Rows, kind: str, node_index: int, now: float) -> None:
        rows.put((*SYSTEM, 1), (0,), _DESCR[kind].encode())
        rows.put((*SYSTEM, 2), (0,), ObjectId((*LAB_ENTERPRISE, _KIND_MODEL[kind])))
        rows.put((*SYSTEM, 3), (0,), TimeTicks(int((now - self._boot()) * 100) & 0xFFFFFFFF))
        rows.put((*SYSTEM, 5), (0,), headend_id(kind, node_name(node_index)).lower().encode())


def _interface(rows: _Rows, if_index: int, name: str, up: bool) -> None:
    rows.put((*IF_ENTRY, 2), (if_index,), name.encode())  # ifDescr
    rows.put((*IF_ENTRY, 8), (if_index,), 1 if up else 2)  # ifOperStatus
    rows.put((*IFX_ENTRY, 1), (if_index,), name.encode())  # ifName


# --- CMTS -----------------------------------------------------------------------------


def us_rx_tenth_dbmv(v: ModemView, ch: int) -> int:
    """What the CMTS receives: the modem's TX power minus its plant loss (the loss is
    the modem's base TX level, so the CMTS sees it near its 0 dBmV set point)."""
    loss = round((40.0 + 5.0 * v.u(_TX)) * 10)
    return v.us_power_tenth_dbmv(ch) - loss


def us_snr_tenth_db(v: ModemView, ch: int) -> int:
    snr = 33.0 + 4.0 * v.u(_USSNR) + 0.5 * v.wave(_USSNR, 600.0, ch)
    if v.fx.headend == "ranging" and v.fx.snr_db is not None:
        snr = min(snr, v.fx.snr_db - 6.0)  # the failing drop hurts both directions
    return round(snr * 10)


def _codewords(v: ModemView, rate: float) -> tuple[int, int, int]:
    total = int(v.uptime_s * rate)
    corrected = int(total * (1e-6 + 1e-5 * v.u(_CW)))
    uncorrectable = int(total * 1e-9)
    return total - corrected - uncorrectable, corrected, uncorrectable


def _cmts(rows: _Rows, views: list[ModemView], uptime_s: float) -> None:
    channels = max((v.spec.us_channels for v in views), default=0)
    _interface(rows, DS_IF_INDEX, "cable1/0/0-downstream0", True)
    snr_sum = [0] * channels
    snr_n = [0] * channels
    for row, v in enumerate(views, 1):
        state = v.fx.headend
        idx = (row,)
        mac = mac_bytes(v.spec.index)
        rows.put((*CM_STATUS, 2), idx, mac)
        rows.put((*CM_STATUS, 4), idx, DS_IF_INDEX)
        rows.put((*CM_STATUS, 5), idx, US_IF_BASE + 1)
        rows.put((*CM_STATUS, 9), idx, CM_STATUS_VALUE[state])
        rows.put((*CM_REG, 2), idx, mac)
        rows.put((*CM_REG, 6), idx, CM_REG_VALUE[state])
        if state == "offline":
            continue
        rows.put((*CM_STATUS, 6), idx, us_rx_tenth_dbmv(v, 0))
        rows.put((*CM_STATUS, 8), idx, v.eq_data(0))
        rows.put((*CM_STATUS, 13), idx, us_snr_tenth_db(v, 0))
        per_channel = [_codewords(v, 2500.0 / max(v.spec.us_channels, 1))
                       for _ in range(v.spec.us_channels)]
        total = [sum(c[n] for c in per_channel) for n in range(3)]
        for n, col in enumerate((10, 11, 12)):
            rows.put((*CM_STATUS, col), idx, Counter32(total[n] & 0xFFFFFFFF))
            rows.put((*CM_STATUS, col + 5), idx, Counter64(total[n]))
        for ch in range(v.spec.us_channels):
            cidx = (row, US_IF_BASE + 1 + ch)
            snr = us_snr_tenth_db(v, ch)
            rows.put((*CM_US, 3), cidx, us_rx_tenth_dbmv(v, ch))
            rows.put((*CM_US, 4), cidx, snr)
            rows.put((*CM_US, 6), cidx, v.eq_data(ch))
            for n, col in enumerate((7, 8, 9)):
                rows.put((*CM_US, col), cidx, Counter32(per_channel[ch][n] & 0xFFFFFFFF))
            snr_sum[ch] += snr
            snr_n[ch] += 1
    for ch in range(channels):
        if_index = US_IF_BASE + 1 + ch
        _interface(rows, if_index, f"cable1/0/0-upstream{ch}", True)
        total = int(uptime_s * 2500.0 * max(snr_n[ch], 1))
        counts = (total - total // 100_000, total // 100_000, total // 100_000_000)
        idx = (if_index,)
        rows.put((*SIGQ, 1), idx, 1)  # IncludesContention: true at the CMTS
        for n, col in enumerate((2, 3, 4)):
            rows.put((*SIGQ, col), idx, Counter32(counts[n] & 0xFFFFFFFF))
            rows.put((*SIGQ, col + 6), idx, Counter64(counts[n]))
        rows.put((*SIGQ, 5), idx, snr_sum[ch] // snr_n[ch] if snr_n[ch] else 0)


# --- DSLAM ----------------------------------------------------------------------------


def _dslam(rows: _Rows, views: list[ModemView]) -> None:
    for place, v in enumerate(views):
        line, chan = place + 1, DSL_CHANNEL_BASE + place + 1
        up = v.fx.headend == "online"
        _interface(rows, line, dsl_port_name(place), up)
        rows.put(IF_STACK_STATUS, (chan, line), 1)  # active(1): the channel rides the line
        for entry, upstream in ((2, True), (3, False)):  # adslAtucPhys / adslAturPhys
            col = (*_ADSL, entry, 1)
            rows.put((*col, 4), (line,), v.margin_tenth_db(upstream) if up else NO_VALUE)
            rows.put((*col, 5), (line,), Gauge32(v.atn_tenth_db(upstream) if up else NO_VALUE))
            rows.put((*col, 8), (line,), Gauge32(v.attainable_bps(upstream) if up else NO_VALUE))
        # adslAtucChanCurrTxRate = downstream, adslAturChanCurrTxRate = upstream (the
        # transmit side, as the headend profile reads them); 0 while the line is down.
        rows.put((*_ADSL, 4, 1, 2), (chan,), Gauge32(v.sync_bps(False) if up else 0))
        rows.put((*_ADSL, 5, 1, 2), (chan,), Gauge32(v.sync_bps(True) if up else 0))


# --- OLT ------------------------------------------------------------------------------


def _olt(rows: _Rows, views: list[ModemView]) -> None:
    ports = math.ceil(len(views) / ONTS_PER_PON)
    for p in range(ports):
        _interface(rows, PON_IF_BASE + 256 * p, f"GPON 0/1/{p}", True)
    for place, v in enumerate(views):
        idx = (PON_IF_BASE + 256 * (place // ONTS_PER_PON), place % ONTS_PER_PON)
        online = v.fx.headend == "online"
        rows.put((*_HW_XPON, 43, 1, 3), idx, ont_serial(v.spec.index))
        rows.put((*_HW_XPON, 46, 1, 15), idx, 1 if online else 2)
        if online:
            rx = v.gpon_rx_tenth_dbm() * 10
            tx = v.gpon_tx_tenth_dbm() * 10
            olt_rx = tx - round(OLT_LAUNCH_DBM * 100) + rx - 50
        else:
            rx = tx = olt_rx = NO_VALUE
        rows.put((*_HW_XPON, 51, 1, 3), idx, tx)
        rows.put((*_HW_XPON, 51, 1, 4), idx, rx)
        rows.put((*_HW_XPON, 51, 1, 6), idx, olt_rx)
