"""Who the simulated modems are: accounts, nodes, technologies, plans, addresses.

Nothing is stored per modem: every attribute is a pure function of
``(seed, modem index)`` through a 64-bit integer hash, so a fleet of 100,000
modems costs a few kilobytes and the same seed always gives the same fleet.
An access node is one technology (a fibre node, a DSLAM, an OLT, an Ethernet
switch), so technology is chosen per node; DOCSIS is the majority.
"""

from __future__ import annotations

import ipaddress
import zlib
from dataclasses import dataclass
from functools import lru_cache

from probes.model import Target

_M64 = (1 << 64) - 1

# One pattern per ten nodes: 6 DOCSIS, 2 DSL, 1 GPON, 1 Ethernet; the first six
# nodes already cover every technology so small fleets are mixed too.
TECH_PATTERN: tuple[str, ...] = (
    "docsis", "dsl", "docsis", "gpon", "docsis", "ethernet", "docsis", "dsl", "docsis", "docsis",
)

# (down Mbit/s, up Mbit/s, DOCSIS downstream channels) — a DOCSIS 3.0 plan needs
# roughly 38 Mbit/s of usable capacity per 256-QAM channel, plus headroom.
DOCSIS_PLANS: tuple[tuple[float, float, int], ...] = (
    (100.0, 10.0, 8), (250.0, 25.0, 16), (500.0, 50.0, 24), (1000.0, 50.0, 32),
)
DOCSIS_US_CHANNELS = 4
# The benchmark's "full DOCSIS profile": a 32x8 bonded modem (DOCSIS 3.0's widest
# common configuration); ``Layout(docsis_channels=(32, 8))`` gives every DOCSIS modem it.
DOCSIS_WIDE = (32, 8)
# ADSL2+ (ITU-T G.992.5) tops out near 24 Mbit/s down, 1.3 Mbit/s up (Annex A).
DSL_PLANS: tuple[tuple[float, float], ...] = ((8.0, 0.8), (16.0, 1.0), (24.0, 1.3))
GPON_PLANS: tuple[tuple[float, float], ...] = ((250.0, 250.0), (500.0, 500.0), (1000.0, 1000.0))
ETHERNET_PLANS: tuple[tuple[float, float], ...] = ((100.0, 100.0), (1000.0, 1000.0))


def salt(name: str) -> int:
    """A stable integer for a name (``hash(str)`` is randomised per process)."""
    return zlib.crc32(name.encode())


def mix64(x: int) -> int:
    """splitmix64 finaliser: a fast, well-spread 64-bit integer hash."""
    x = (x + 0x9E3779B97F4A7C15) & _M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


def unit(seed: int, index: int, key: int) -> float:
    """A uniform float in [0, 1) fixed by (seed, index, key)."""
    return (mix64(mix64(seed * 0x100000001B3 + index) ^ key) >> 11) / 9007199254740992.0


_PLAN = salt("plan")


@dataclass(frozen=True, slots=True)
class ModemSpec:
    """The fixed facts of one simulated modem."""

    index: int
    account: str
    node_index: int
    node: str
    technology: str
    host: str
    plan_down_mbps: float
    plan_up_mbps: float
    ds_channels: int = 0
    us_channels: int = 0

    @property
    def template_key(self) -> str:
        if self.technology != "docsis":
            return self.technology
        if self.us_channels == DOCSIS_US_CHANNELS:
            return f"docsis{self.ds_channels}"
        return f"docsis{self.ds_channels}x{self.us_channels}"


def mac_bytes(index: int, if_index: int = 2) -> bytes:
    """ifPhysAddress of a modem's interface; ifIndex 2 (the cable MAC, DSL line, PON
    or WAN port) is the modem's MAC as its headend sees it: unique for 2**24 modems."""
    return bytes((0x02, 0x4C, 0x57, (index >> 16) & 0xFF, (index >> 8) & 0xFF,
                  (index + if_index) & 0xFF))


def modem_mac(index: int) -> str:
    """The modem's MAC as the inventory's ``mac`` column carries it."""
    return mac_bytes(index).hex(":")


def dsl_port_name(position: int) -> str:
    """ifName of the DSLAM port serving the node's ``position``-th line (48 a board)."""
    return f"adsl1/{position // 48 + 1}/{position % 48 + 1}"


def ont_serial(index: int) -> bytes:
    """The ONT's GPON serial: vendor id LWLB + 4 octets (HUAWEI-XPON-MIB hwGponDeviceOntSn)."""
    return b"LWLB" + (index & 0xFFFFFFFF).to_bytes(4, "big")


def _serial_text(raw: bytes) -> str:
    """As OLT consoles print it (probes.snmp.headend_reading reads it so): LWLB0000002A."""
    return raw[:4].decode("ascii") + raw[4:].hex().upper()


def account_name(index: int) -> str:
    return f"ACC-{index + 1:06d}"


def node_name(node_index: int) -> str:
    return f"NODE-{node_index + 1:02d}"


class Layout:
    """Maps modem index <-> account, node, address; builds specs on demand."""

    def __init__(
        self, modems: int, nodes: int, seed: int, base_address: str, port: int,
        docsis_channels: tuple[int, int] | None = None,
        technologies: tuple[str, ...] = TECH_PATTERN,
    ) -> None:
        """``docsis_channels``: (downstream, upstream) for every DOCSIS modem instead of
        the plan mix; only shapes build_templates knows (the plans' and DOCSIS_WIDE).
        ``technologies``: the per-node pattern, repeated (``("docsis",)``: all cable)."""
        if modems < 1:
            raise ValueError("a fleet needs at least one modem")
        unknown = set(technologies) - set(TECH_PATTERN)
        if not technologies or unknown:
            raise ValueError(f"technologies must be some of {sorted(set(TECH_PATTERN))}")
        if not 1 <= nodes <= modems:
            raise ValueError("nodes must be between 1 and the number of modems")
        base = ipaddress.IPv4Address(base_address)
        if not base.is_loopback:
            raise ValueError(f"base_address {base_address} is not in 127.0.0.0/8")
        last = int(base) + modems + nodes  # the headends follow the last modem
        if last >= int(ipaddress.IPv4Address("127.255.255.255")):
            raise ValueError("the fleet does not fit in 127.0.0.0/8 above base_address")
        self.modems = modems
        self.nodes = nodes
        self.seed = seed
        self.port = port
        self.docsis_channels = docsis_channels
        self.technologies = technologies
        # Modem i answers on base + 1 + i (the base itself is never a modem).
        self.first_address = int(base) + 1
        self._spec = lru_cache(maxsize=8192)(self._build_spec)

    # --- nodes ---------------------------------------------------------------------

    def node_of(self, index: int) -> int:
        return index * self.nodes // self.modems

    def node_range(self, node_index: int) -> range:
        """Modems are in contiguous blocks per node (neighbours share a node)."""
        start = -(-node_index * self.modems // self.nodes)
        stop = -(-(node_index + 1) * self.modems // self.nodes)
        return range(start, stop)

    def node_technology(self, node_index: int) -> str:
        return self.technologies[node_index % len(self.technologies)]

    def node_index(self, name: str) -> int | None:
        if not name.startswith("NODE-"):
            return None
        try:
            k = int(name[5:]) - 1
        except ValueError:
            return None
        return k if 0 <= k < self.nodes and node_name(k) == name else None

    # --- modems --------------------------------------------------------------------

    def index_of_account(self, account: str) -> int | None:
        if not account.startswith("ACC-"):
            return None
        try:
            i = int(account[4:]) - 1
        except ValueError:
            return None
        return i if 0 <= i < self.modems and account_name(i) == account else None

    def index_of_address(self, address: int) -> int | None:
        i = address - self.first_address
        return i if 0 <= i < self.modems else None

    def address(self, index: int) -> str:
        return str(ipaddress.IPv4Address(self.first_address + index))

    # --- headends (lab/fleet/headends.py) ---------------------------------------------
    # Node k's headend answers on base + 1 + modems + k: just past the last modem, so
    # it can never be a modem's address, and a fleet's addresses stay one block.

    def headend_address(self, node_index: int) -> str:
        return str(ipaddress.IPv4Address(self.first_address + self.modems + node_index))

    def index_of_headend_address(self, address: int) -> int | None:
        k = address - self.first_address - self.modems
        return k if 0 <= k < self.nodes else None

    def position(self, index: int) -> int:
        """The modem's place on its node (its row / port / ONT at the headend)."""
        return index - self.node_range(self.node_of(index)).start

    def spec(self, index: int) -> ModemSpec:
        return self._spec(index)

    def _build_spec(self, index: int) -> ModemSpec:
        k = self.node_of(index)
        tech = self.node_technology(k)
        pick = unit(self.seed, index, _PLAN)
        ds = us = 0
        if tech == "docsis":
            down, up, ds = DOCSIS_PLANS[int(pick * len(DOCSIS_PLANS))]
            us = DOCSIS_US_CHANNELS
            if self.docsis_channels is not None:
                ds, us = self.docsis_channels
        elif tech == "dsl":
            down, up = DSL_PLANS[int(pick * len(DSL_PLANS))]
        elif tech == "gpon":
            down, up = GPON_PLANS[int(pick * len(GPON_PLANS))]
        else:
            down, up = ETHERNET_PLANS[int(pick * len(ETHERNET_PLANS))]
        return ModemSpec(
            index=index,
            account=account_name(index),
            node_index=k,
            node=node_name(k),
            technology=tech,
            host=self.address(index),
            plan_down_mbps=down,
            plan_up_mbps=up,
            ds_channels=ds,
            us_channels=us,
        )

    def headend_port(self, index: int) -> str | None:
        """The key a headend row of this modem carries besides a MAC: a DSLAM port's
        ifName, an OLT's ONT serial (CMTS rows carry the MAC itself)."""
        tech = self.spec(index).technology
        if tech == "dsl":
            return dsl_port_name(self.position(index))
        if tech == "gpon":
            return _serial_text(ont_serial(index))
        return None

    def target(self, index: int) -> Target:
        s = self.spec(index)
        return Target(
            account=s.account,
            host=s.host,
            technology=s.technology,  # type: ignore[arg-type]
            node=s.node,
            plan_down_mbps=s.plan_down_mbps,
            plan_up_mbps=s.plan_up_mbps,
            port=self.port,
            mac=modem_mac(index),
            headend_port=self.headend_port(index),
        )
