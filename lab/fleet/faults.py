"""Fault injection: what is broken, where, since when — and what that does to a modem.

A fault targets a node or one account. ``FaultBook.effects`` folds the faults
that touch a modem into one small ``Effects`` value the MIB reads from; modems
without faults share ``NO_EFFECTS`` so the common path costs two dict lookups.

Congestion cannot be simulated on SNMP: the simulator does not carry customer
traffic. It is exposed as an ``available_share`` of each modem's plan on the
node (state API and ``Fleet.available_mbps``) for the lab/demo to feed into
throughput checks.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from lab.fleet.equalizer import MAX_ECHO_M, MIN_ECHO_M

# kind -> (technologies it applies to (None = all), default parameters)
FAULT_KINDS: dict[str, tuple[frozenset[str] | None, dict[str, float]]] = {
    "node_outage": (None, {}),
    "dead_modem": (None, {}),
    # Issue 15: the stories behind a dark modem. power_off: dark at once, nothing
    # before. drop_cut: the drop degrades (SNR sliding from from_snr_db to to_snr_db
    # over degrade_s), then the modem is dark. tap_failure: the first ``count``
    # modems of a node (the homes behind one tap) dark together.
    "power_off": (None, {}),
    "drop_cut": (frozenset({"docsis"}), {"degrade_s": 40.0, "from_snr_db": 36.0,
                                         "to_snr_db": 26.0}),
    "tap_failure": (None, {"count": 3.0}),
    # The headend's stories (lab/fleet/headends.py). mgmt_path: the modem answers
    # nobody (our management path to it is broken) while its headend still sees it
    # operational. micro_reflection: an echo distance_m metres from the modem,
    # level_dbc below the main tap, in its upstream pre-equalizer (modem and CMTS).
    # headend_dark: the node's headend (CMTS, DSLAM, OLT) stops answering; its
    # modems do not change.
    "mgmt_path": (None, {}),
    "micro_reflection": (frozenset({"docsis"}), {"distance_m": 100.0, "level_dbc": -15.0}),
    "headend_dark": (frozenset({"docsis", "dsl", "gpon"}), {}),
    "reboot_loop": (None, {"period_s": 60.0, "silent_s": 5.0}),
    # Unreachable but not dark (issue 14): a firewall on the path rejects the
    # management traffic (admin-prohibited), or the modem's SNMP agent is down
    # while the modem lives (port unreachable; ping still answers). Silent
    # where the kernel cannot report them (lab/fleet/kernel.py).
    "firewall_reject": (None, {}),
    "snmp_closed": (None, {}),
    # DOCSIS line faults (thresholds: ../shared/THRESHOLDS.md)
    "snr_drop": (frozenset({"docsis"}), {"snr_db": 24.0}),
    "ds_power": (frozenset({"docsis"}), {"power_dbmv": -17.0}),
    "uncorrectables": (frozenset({"docsis"}), {"ratio": 0.03}),
    "t3t4": (frozenset({"docsis"}), {"per_minute": 30.0}),
    # DSL: margin <= 6 dB is bad; a severely errored second is >= 18 CRC errors/s.
    "dsl_margin": (frozenset({"dsl"}), {"margin_db": 3.0, "crc_per_s": 40.0}),
    # GPON class B+ receiver sensitivity is -28 dBm (ITU-T G.984.2).
    "gpon_rx_low": (frozenset({"gpon"}), {"rx_dbm": -29.5}),
    "lan_down": (None, {}),
    "congestion": (None, {"available_share": 0.3}),
}
NODE_ONLY = frozenset({"node_outage", "congestion", "tap_failure", "headend_dark"})
# Faults that leave a modem dark (silent, and rejected by the kernel as root).
DARK_KINDS = frozenset({"node_outage", "dead_modem", "power_off", "tap_failure"})
# The ICMP error the kernel answers for a modem each fault makes unreachable
# (as root, lab/fleet/kernel.py); drop_cut only once its degrade_s is over.
KERNEL_REJECT: dict[str, str] = {
    **dict.fromkeys(DARK_KINDS, "host-unreachable"),
    "drop_cut": "host-unreachable",
    "mgmt_path": "host-unreachable",
    "headend_dark": "host-unreachable",  # the headend's own address (fleet.py)
    "firewall_reject": "admin-prohibited",
    "snmp_closed": "port-unreachable",
}


class FaultError(ValueError):
    """A fault request that cannot be applied; the message says why."""


@dataclass(slots=True)
class Fault:
    id: int
    kind: str
    started_at: float
    node: str | None = None
    account: str | None = None
    params: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "kind": self.kind, "started_at": self.started_at}
        if self.node is not None:
            out["node"] = self.node
        if self.account is not None:
            out["account"] = self.account
        out.update(self.params)
        return out


@dataclass(slots=True)
class Effects:
    """What the faults on one modem change. ``None`` means: normal value."""

    silent: bool = False
    boot_at: float | None = None  # sysUpTime restarts here (reboot loop)
    snr_db: float | None = None
    ds_power_dbmv: float | None = None
    uncorrectable_ratio: float = 0.0
    uncorrectable_since: float = 0.0
    t3t4_per_s: float = 0.0
    t3t4_since: float = 0.0
    margin_db: float | None = None
    crc_per_s: float = 0.0
    crc_since: float = 0.0
    gpon_rx_dbm: float | None = None
    lan_down: bool = False
    # What the node's headend sees of the modem: online, ranging or offline.
    headend: str = "online"
    echo_distance_m: float | None = None  # micro-reflection in the pre-equalizer
    echo_level_dbc: float = 0.0


NO_EFFECTS = Effects()


class FaultBook:
    """The active faults, indexed by node index and modem index."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self.faults: dict[int, Fault] = {}
        self._by_node: dict[int, list[Fault]] = {}
        self._by_modem: dict[int, list[Fault]] = {}
        # Modems whose last boot is no longer the seeded one (rebooted by the lab).
        self.boot_override: dict[int, float] = {}

    def add(self, fault: Fault, node_index: int | None, modem_index: int | None,
            modems: range | None = None) -> Fault:
        """``modems``: a fault on a node that touches only these of its modems."""
        fault.id = next(self._ids)
        self.faults[fault.id] = fault
        if modems is not None:
            for i in modems:
                self._by_modem.setdefault(i, []).append(fault)
        elif modem_index is not None:
            self._by_modem.setdefault(modem_index, []).append(fault)
        elif node_index is not None:
            self._by_node.setdefault(node_index, []).append(fault)
        return fault

    def remove(self, fault_id: int, modem_indices: range, now: float) -> Fault | None:
        fault = self.faults.pop(fault_id, None)
        if fault is None:
            return None
        for table in (self._by_node, self._by_modem):
            for key, items in list(table.items()):
                if fault in items:
                    items.remove(fault)
                    if not items:
                        del table[key]
        # A modem coming back from a reboot loop or from the dead has just booted.
        if fault.kind in ("reboot_loop", "dead_modem", "power_off", "drop_cut", "tap_failure"):
            for i in modem_indices:
                rebooted = self._last_boot(fault, now) if fault.kind == "reboot_loop" else now
                self.boot_override[i] = rebooted
        return fault

    @staticmethod
    def _last_boot(fault: Fault, now: float) -> float:
        period = max(fault.params["period_s"], 1.0)
        return fault.started_at + ((now - fault.started_at) // period) * period

    def node_faults(self, node_index: int) -> list[Fault]:
        return self._by_node.get(node_index, [])

    def modem_faults(self, modem_index: int) -> list[Fault]:
        return self._by_modem.get(modem_index, [])

    def available_share(self, node_index: int) -> float:
        share = 1.0
        for f in self._by_node.get(node_index, ()):
            if f.kind == "congestion":
                share = min(share, f.params["available_share"])
        return share

    def effects(self, modem_index: int, node_index: int, now: float) -> Effects:
        node_faults = self._by_node.get(node_index)
        modem_faults = self._by_modem.get(modem_index)
        if not node_faults and not modem_faults:
            return NO_EFFECTS
        fx = Effects()
        for f in (*(node_faults or ()), *(modem_faults or ())):
            _apply(fx, f, now)
        return fx


_HEADEND_RANK = {"online": 0, "ranging": 1, "offline": 2}


def _headend_sees(fx: Effects, state: str) -> None:
    """The worst state wins: offline over ranging over online."""
    if _HEADEND_RANK[state] > _HEADEND_RANK[fx.headend]:
        fx.headend = state


def _apply(fx: Effects, f: Fault, now: float) -> None:
    p = f.params
    kind = f.kind
    if kind in DARK_KINDS:
        fx.silent = True
        _headend_sees(fx, "offline")
    elif kind in ("firewall_reject", "snmp_closed", "mgmt_path"):
        fx.silent = True  # unreachable for us; the modem itself is up on the plant
    elif kind == "drop_cut":
        if now - f.started_at >= p["degrade_s"]:
            fx.silent = True
            _headend_sees(fx, "offline")
        else:
            share = max(0.0, now - f.started_at) / max(p["degrade_s"], 1e-9)
            fx.snr_db = p["from_snr_db"] + (p["to_snr_db"] - p["from_snr_db"]) * share
            _headend_sees(fx, "ranging")  # the CMTS keeps re-ranging a failing drop
    elif kind == "micro_reflection":
        fx.echo_distance_m = p["distance_m"]
        fx.echo_level_dbc = p["level_dbc"]
    elif kind == "reboot_loop":
        boot = FaultBook._last_boot(f, now)
        fx.boot_at = boot
        if now - boot < p["silent_s"]:
            fx.silent = True
            _headend_sees(fx, "ranging")  # registering again after the boot
    elif kind == "snr_drop":
        fx.snr_db = p["snr_db"]
    elif kind == "ds_power":
        fx.ds_power_dbmv = p["power_dbmv"]
    elif kind == "uncorrectables":
        fx.uncorrectable_ratio = p["ratio"]
        fx.uncorrectable_since = f.started_at
    elif kind == "t3t4":
        fx.t3t4_per_s = p["per_minute"] / 60.0
        fx.t3t4_since = f.started_at
    elif kind == "dsl_margin":
        fx.margin_db = p["margin_db"]
        fx.crc_per_s = p["crc_per_s"]
        fx.crc_since = f.started_at
    elif kind == "gpon_rx_low":
        fx.gpon_rx_dbm = p["rx_dbm"]
    elif kind == "lan_down":
        fx.lan_down = True


def fault_params(kind: str, given: dict[str, Any]) -> dict[str, float]:
    """Defaults overlaid with the given numeric parameters; unknown names rejected."""
    if kind not in FAULT_KINDS:
        raise FaultError(f"unknown fault kind {kind!r}; known: {', '.join(sorted(FAULT_KINDS))}")
    params = dict(FAULT_KINDS[kind][1])
    for name, value in given.items():
        if name not in params:
            known = sorted(params) or "none"
            raise FaultError(f"{kind} has no parameter {name!r}; it takes {known}")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise FaultError(f"{name} must be a number")
        params[name] = float(value)
    if kind == "tap_failure" and not (params["count"] >= 1 and params["count"].is_integer()):
        raise FaultError("tap_failure needs a whole count >= 1")
    if kind == "drop_cut" and params["degrade_s"] < 0:
        raise FaultError("drop_cut needs degrade_s >= 0")
    if kind == "micro_reflection":
        if not MIN_ECHO_M <= params["distance_m"] <= MAX_ECHO_M:
            raise FaultError(f"distance_m must be between {MIN_ECHO_M:g} and {MAX_ECHO_M:g} m "
                             "(one tap to the last tap of the pre-equalizer)")
        if not -50.0 <= params["level_dbc"] <= -3.0:
            raise FaultError("level_dbc must be between -50 and -3 dBc")
    if kind == "congestion" and not 0.0 <= params["available_share"] <= 1.0:
        raise FaultError("available_share must be between 0 and 1")
    period, silent = params.get("period_s", 1.0), params.get("silent_s", 0.0)
    if kind == "reboot_loop" and not (period >= 1.0 and 0.0 <= silent < period):
        raise FaultError("reboot_loop needs period_s >= 1 and 0 <= silent_s < period_s")
    return params
