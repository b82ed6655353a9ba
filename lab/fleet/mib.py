"""The MIB each simulated modem serves: real OIDs, real SMI types.

One ``Template`` per technology (and per DOCSIS downstream channel count) holds
the sorted OID list and one getter per OID; all modems of that shape share it,
so 100,000 modems cost a handful of templates. Getters read a ``ModemView``.

Objects (with sources):
- SNMPv2-MIB system group, IF-MIB ifTable/ifXTable (RFC 3418, RFC 2863).
- DOCS-IF-MIB (RFC 4546): downstream, upstream, signal-quality and CM status
  tables; DOCS-IF3-MIB docsIf3CmStatusUsTable for per-channel TX power,
  T3/T4 and the pre-equalizer (lab/fleet/equalizer.py). Rows indexed
  by the channel ifIndex (ifType 128 DS, 129 US, 127 MAC);
  ifIndex numbering like Arris/Technicolor modems (3 = first DS, 4 = first US,
  48.. more DS, 80.. more US).
- ADSL-LINE-MIB (RFC 2662): ATU-C/ATU-R physical, channel and channel
  performance tables on the ADSL line (ifType 94) and its interleaved channel
  (ifType 124).
- GPON ONT optics: ENTITY-SENSOR-MIB (RFC 3433) entPhySensor rows in dBm with
  precision 1 (tenths), as transceivers report them (sensor 1 RX, sensor 2 TX).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field

from lab.fleet.layout import DOCSIS_PLANS, DOCSIS_US_CHANNELS, DOCSIS_WIDE, mac_bytes
from lab.fleet.values import DS_SYMBOL_RATE_BPS, DS_WIDTH_HZ, US_RATE_BPS, US_WIDTH_HZ, ModemView
from probes.snmp.ber import (
    OID,
    Counter32,
    Counter64,
    Gauge32,
    ObjectId,
    TimeTicks,
    Value,
    parse_oid,
)

Getter = Callable[[ModemView], Value]

# --- OIDs -------------------------------------------------------------------------------
SYSTEM = parse_oid("1.3.6.1.2.1.1")
IF_NUMBER = parse_oid("1.3.6.1.2.1.2.1")
IF_ENTRY = parse_oid("1.3.6.1.2.1.2.2.1")
IFX_ENTRY = parse_oid("1.3.6.1.2.1.31.1.1.1")
DOCS_DS_ENTRY = parse_oid("1.3.6.1.2.1.10.127.1.1.1.1")
DOCS_US_ENTRY = parse_oid("1.3.6.1.2.1.10.127.1.1.2.1")
DOCS_SIGQ_ENTRY = parse_oid("1.3.6.1.2.1.10.127.1.1.4.1")
DOCS_CM_STATUS_ENTRY = parse_oid("1.3.6.1.2.1.10.127.1.2.2.1")
DOCS3_US_STATUS_ENTRY = parse_oid("1.3.6.1.4.1.4491.2.1.20.1.2.1")
ADSL_ATUC_PHYS = parse_oid("1.3.6.1.2.1.10.94.1.1.2.1")
ADSL_ATUR_PHYS = parse_oid("1.3.6.1.2.1.10.94.1.1.3.1")
ADSL_ATUC_CHAN = parse_oid("1.3.6.1.2.1.10.94.1.1.4.1")
ADSL_ATUR_CHAN = parse_oid("1.3.6.1.2.1.10.94.1.1.5.1")
ADSL_ATUR_CHAN_PERF = parse_oid("1.3.6.1.2.1.10.94.1.1.11.1")
ENT_PHYSICAL_DESCR = parse_oid("1.3.6.1.2.1.47.1.1.1.1.2")
ENT_PHY_SENSOR_ENTRY = parse_oid("1.3.6.1.2.1.99.1.1.1")

# IANA documentation enterprise number (RFC 5612) for sysObjectID: not a real vendor.
LAB_ENTERPRISE = parse_oid("1.3.6.1.4.1.32473.1")

IFTYPE_ETHERNET, IFTYPE_ADSL, IFTYPE_INTERLEAVE = 6, 94, 124
IFTYPE_DOCS_MAC, IFTYPE_DOCS_DS, IFTYPE_DOCS_US, IFTYPE_GPON = 127, 128, 129, 250
DOCS_OPERATIONAL = 12
QAM256 = 4  # docsIfDownChannelModulation qam256(4)
ANNEX_B = 4  # docsIfDownChannelAnnex annexB(4)

SYS_DESCR = {
    "docsis": (
        b"Cable Modem <<HW_REV: 1.0; VENDOR: Linewatch Lab; BOOTR: 1.0.2; "
        b"SW_REV: LW-CM-3.1.0; MODEL: LW-CM3000>>"
    ),
    "dsl": b"LW-DSL200 ADSL2+ modem router, firmware LW-DSL-2.4.1",
    "gpon": b"LW-ONT100 GPON ONT, firmware LW-ONT-1.8.0",
    "ethernet": b"LW-CPE10 Ethernet CPE, firmware LW-CPE-1.2.3",
}


@dataclass(slots=True)
class Template:
    """The sorted OIDs of one modem shape and how to compute each value."""

    name: str
    oids: list[OID] = field(default_factory=list)
    getters: list[Getter] = field(default_factory=list)
    index: dict[OID, int] = field(default_factory=dict)
    objects: frozenset[OID] = frozenset()
    lan_if_index: int = 1

    def position(self, oid: OID) -> int | None:
        return self.index.get(oid)

    def next_position(self, oid: OID) -> int:
        """Position of the first OID strictly after ``oid`` (len(oids) = end of view)."""
        return bisect_right(self.oids, oid)

    def is_object(self, oid: OID) -> bool:
        """True when some prefix of ``oid`` names an object we serve (-> noSuchInstance)."""
        objects = self.objects
        return any(oid[:n] in objects for n in range(len(oid) - 1, 6, -1))


class _Builder:
    def __init__(self, name: str) -> None:
        self.name = name
        self.rows: dict[OID, Getter] = {}
        self.objects: set[OID] = set()

    def add(self, obj: OID, instance: tuple[int, ...], getter: Getter) -> None:
        self.objects.add(obj)
        self.rows[obj + instance] = getter

    def scalar(self, obj: OID, getter: Getter) -> None:
        self.add(obj, (0,), getter)

    def build(self, lan_if_index: int) -> Template:
        oids = sorted(self.rows)
        return Template(
            name=self.name,
            oids=oids,
            getters=[self.rows[o] for o in oids],
            index={o: i for i, o in enumerate(oids)},
            objects=frozenset(self.objects),
            lan_if_index=lan_if_index,
        )


def _const(value: Value) -> Getter:
    return lambda v: value


@dataclass(frozen=True, slots=True)
class _Interface:
    if_index: int
    name: str
    descr: str
    if_type: int
    speed_bps: int
    mtu: int
    down_share: float = 0.0  # share of the plan's downstream traffic it carries
    up_share: float = 0.0
    lan: bool = False


def _mac(v: ModemView, if_index: int) -> bytes:
    return mac_bytes(v.spec.index, if_index)


def _oper_status(iface: _Interface) -> Getter:
    if iface.lan:
        return lambda v: 2 if v.fx.lan_down else 1
    return _const(1)


def _octets(iface: _Interface, inbound: bool, bits: int) -> Getter:
    # LAN "in" is what the customer sends (upstream); every other port "in" is downstream.
    share = (iface.up_share if inbound else iface.down_share) if iface.lan else (
        iface.down_share if inbound else iface.up_share)
    upstream = inbound == iface.lan
    sub = iface.if_index * 2 + int(inbound)
    mask = (1 << bits) - 1
    kind = Counter64 if bits == 64 else Counter32

    def get(v: ModemView) -> Value:
        plan = v.spec.plan_up_mbps if upstream else v.spec.plan_down_mbps
        return kind(v.traffic_bytes(plan * share, sub) & mask)

    return get


def _packets(octets: Getter) -> Getter:
    return lambda v: Counter32((int(octets(v)) // 700) & 0xFFFFFFFF)  # ~700 B mean packet


def _add_system(b: _Builder, tech: str) -> None:
    b.scalar((*SYSTEM, 1), _const(SYS_DESCR[tech]))
    model = 1 + ("docsis", "dsl", "gpon", "ethernet").index(tech)
    b.scalar((*SYSTEM, 2), _const(ObjectId((*LAB_ENTERPRISE, model))))
    b.scalar((*SYSTEM, 3), lambda v: TimeTicks(v.uptime_ticks()))
    b.scalar((*SYSTEM, 4), _const(b"noc@isp.example"))
    b.scalar((*SYSTEM, 5), lambda v: v.spec.account.lower().encode())
    b.scalar((*SYSTEM, 6), lambda v: v.spec.node.encode())
    b.scalar((*SYSTEM, 7), _const(2))  # datalink (bridge)


def _add_interfaces(b: _Builder, ifaces: list[_Interface]) -> None:
    b.scalar(IF_NUMBER, _const(len(ifaces)))
    for f in ifaces:
        inst = (f.if_index,)
        in32, out32 = _octets(f, True, 32), _octets(f, False, 32)
        b.add((*IF_ENTRY, 1), inst, _const(f.if_index))
        b.add((*IF_ENTRY, 2), inst, _const(f.descr.encode()))
        b.add((*IF_ENTRY, 3), inst, _const(f.if_type))
        b.add((*IF_ENTRY, 4), inst, _const(f.mtu))
        b.add((*IF_ENTRY, 5), inst, _const(Gauge32(min(f.speed_bps, 0xFFFFFFFF))))
        b.add((*IF_ENTRY, 6), inst, lambda v, idx=f.if_index: _mac(v, idx))
        b.add((*IF_ENTRY, 7), inst, _const(1))
        b.add((*IF_ENTRY, 8), inst, _oper_status(f))
        b.add((*IF_ENTRY, 9), inst, lambda v: TimeTicks(min(3000, v.uptime_ticks())))
        b.add((*IF_ENTRY, 10), inst, in32)
        b.add((*IF_ENTRY, 11), inst, _packets(in32))
        b.add((*IF_ENTRY, 13), inst, _const(Counter32(0)))
        b.add((*IF_ENTRY, 14), inst, _const(Counter32(0)))
        b.add((*IF_ENTRY, 16), inst, out32)
        b.add((*IF_ENTRY, 17), inst, _packets(out32))
        b.add((*IF_ENTRY, 19), inst, _const(Counter32(0)))
        b.add((*IF_ENTRY, 20), inst, _const(Counter32(0)))
        b.add((*IFX_ENTRY, 1), inst, _const(f.name.encode()))
        b.add((*IFX_ENTRY, 6), inst, _octets(f, True, 64))
        b.add((*IFX_ENTRY, 10), inst, _octets(f, False, 64))
        b.add((*IFX_ENTRY, 15), inst, _const(Gauge32(f.speed_bps // 1_000_000)))
        b.add((*IFX_ENTRY, 18), inst, _const(b""))


def _lan() -> _Interface:
    return _Interface(1, "lan0", "Ethernet LAN port", IFTYPE_ETHERNET, 1_000_000_000, 1500,
                      1.0, 1.0, lan=True)


def ds_if_index(ch: int) -> int:
    return 3 if ch == 0 else 48 + ch - 1


def us_if_index(ch: int) -> int:
    return 4 if ch == 0 else 80 + ch - 1


def docsis_template(ds: int, us: int) -> Template:
    b = _Builder(f"docsis{ds}" if us == DOCSIS_US_CHANNELS else f"docsis{ds}x{us}")
    _add_system(b, "docsis")
    ifaces = [_lan(), _Interface(2, "cm0", "DOCSIS CABLE MAC", IFTYPE_DOCS_MAC, 1_000_000_000,
                                 1522, 1.0, 1.0)]
    ifaces += [_Interface(ds_if_index(c), f"ds{c}", "DOCSIS Downstream", IFTYPE_DOCS_DS,
                          DS_SYMBOL_RATE_BPS, 1764, 1.0 / ds) for c in range(ds)]
    ifaces += [_Interface(us_if_index(c), f"us{c}", "DOCSIS Upstream", IFTYPE_DOCS_US,
                          US_RATE_BPS, 1764, 0.0, 1.0 / us) for c in range(us)]
    _add_interfaces(b, sorted(ifaces, key=lambda f: f.if_index))
    for c in range(ds):
        inst = (ds_if_index(c),)
        e, q = DOCS_DS_ENTRY, DOCS_SIGQ_ENTRY
        b.add((*e, 1), inst, _const(c + 1))
        b.add((*e, 2), inst, lambda v, c=c: v.ds_frequency_hz(c))
        b.add((*e, 3), inst, _const(DS_WIDTH_HZ))
        b.add((*e, 4), inst, _const(QAM256))
        b.add((*e, 5), inst, _const(5))  # taps32Increment4
        b.add((*e, 6), inst, lambda v, c=c: v.ds_power_tenth_dbmv(c))
        b.add((*e, 7), inst, _const(ANNEX_B))
        b.add((*q, 1), inst, _const(2))  # IncludesContention false
        # (column, which codeword count, counter width): .2-.4 Counter32, .8-.10 Counter64
        for col, pick, bits in ((2, 0, 32), (3, 1, 32), (4, 2, 32),
                                (8, 0, 64), (9, 1, 64), (10, 2, 64)):
            kind = Counter64 if bits == 64 else Counter32
            mask = (1 << bits) - 1
            b.add((*q, col), inst,
                  lambda v, c=c, p=pick, k=kind, m=mask: k(v.codewords(c)[p] & m))
        b.add((*q, 5), inst, lambda v, c=c: v.snr_tenth_db(c))
        b.add((*q, 6), inst, _const(0))  # microreflections, -dBc
    for c in range(us):
        inst = (us_if_index(c),)
        e, s = DOCS_US_ENTRY, DOCS3_US_STATUS_ENTRY
        b.add((*e, 1), inst, _const(c + 1))
        b.add((*e, 2), inst, lambda v, c=c: v.us_frequency_hz(c))
        b.add((*e, 3), inst, _const(US_WIDTH_HZ))
        b.add((*e, 4), inst, _const(Gauge32(c + 1)))  # modulation profile
        b.add((*e, 15), inst, _const(2))  # atdma
        b.add((*s, 1), inst, lambda v, c=c: v.us_power_tenth_dbmv(c))
        b.add((*s, 2), inst, lambda v, c=c: Counter32(v.t3_timeouts(c)))
        b.add((*s, 3), inst, lambda v, c=c: Counter32(v.t4_timeouts(c)))
        b.add((*s, 4), inst, _const(Counter32(0)))
        b.add((*s, 6), inst, lambda v, c=c: v.eq_data(c))  # docsIf3CmStatusUsEqData
    st, mac = DOCS_CM_STATUS_ENTRY, (2,)
    b.add((*st, 1), mac, _const(DOCS_OPERATIONAL))
    b.add((*st, 2), mac, _const(b""))
    b.add((*st, 3), mac, lambda v: v.us_power_tenth_dbmv(0))
    for col in (4, 5, 6, 7, 8, 9, 10, 11, 14):
        b.add((*st, col), mac, _const(Counter32(0)))
    b.add((*st, 12), mac, lambda v: Counter32(sum(v.t3_timeouts(c) for c in range(us))))
    b.add((*st, 13), mac, lambda v: Counter32(sum(v.t4_timeouts(c) for c in range(us))))
    b.add((*st, 17), mac, lambda v: v.eq_data(0))  # docsIfCmStatusEqualizationData
    return b.build(lan_if_index=1)


ADSL_LINE_IF, ADSL_CHAN_IF = 2, 3


def dsl_template() -> Template:
    b = _Builder("dsl")
    _add_system(b, "dsl")
    _add_interfaces(b, [
        _lan(),
        _Interface(ADSL_LINE_IF, "dsl0", "ADSL2+ line", IFTYPE_ADSL, 24_000_000, 1500, 1.0, 1.0),
        _Interface(ADSL_CHAN_IF, "dsl0.i", "ADSL interleaved channel", IFTYPE_INTERLEAVE,
                   24_000_000, 1500, 1.0, 1.0),
    ])
    line, chan = (ADSL_LINE_IF,), (ADSL_CHAN_IF,)
    for entry, up in ((ADSL_ATUC_PHYS, True), (ADSL_ATUR_PHYS, False)):
        # ATU-C measures the upstream (its receiver), ATU-R the downstream.
        b.add((*entry, 1), line, _const(b"LW0001" if up else b"LWR0001"))
        b.add((*entry, 2), line, _const(b"LWLB"))
        b.add((*entry, 3), line, _const(b"2.4.1"))
        b.add((*entry, 4), line, lambda v, up=up: v.margin_tenth_db(up))
        b.add((*entry, 5), line, lambda v, up=up: Gauge32(v.atn_tenth_db(up)))
        b.add((*entry, 6), line, _const(b"\x00"))  # adslAtu*CurrStatus BITS: noDefect
        b.add((*entry, 7), line, _const(125 if up else 195))  # output power, tenth dBm
        b.add((*entry, 8), line, lambda v, up=up: Gauge32(v.attainable_bps(up)))
    # Channel rates as the ATU-R / ATU-C end sees them: the ATU-R row carries the
    # downstream sync rate (as LibreNMS and probes/snmp/profiles.py read it).
    for entry, up in ((ADSL_ATUC_CHAN, True), (ADSL_ATUR_CHAN, False)):
        b.add((*entry, 1), chan, _const(Gauge32(8)))  # interleave delay, ms
        b.add((*entry, 2), chan, lambda v, up=up: Gauge32(v.sync_bps(up)))
        b.add((*entry, 3), chan, lambda v, up=up: Gauge32(v.sync_bps(up)))
        b.add((*entry, 4), chan, _const(Gauge32(0)))
    p = ADSL_ATUR_CHAN_PERF
    b.add((*p, 1), chan, lambda v: Counter32(v.dsl_blocks()[0] & 0xFFFFFFFF))
    b.add((*p, 2), chan, lambda v: Counter32(v.dsl_blocks()[0] // 4 & 0xFFFFFFFF))
    b.add((*p, 3), chan, lambda v: Counter32(v.dsl_blocks()[1] & 0xFFFFFFFF))
    b.add((*p, 4), chan, lambda v: Counter32(v.dsl_blocks()[2] & 0xFFFFFFFF))
    return b.build(lan_if_index=1)


GPON_RX_SENSOR, GPON_TX_SENSOR = 1, 2


def gpon_template() -> Template:
    b = _Builder("gpon")
    _add_system(b, "gpon")
    _add_interfaces(b, [
        _lan(),
        _Interface(2, "pon0", "GPON uplink", IFTYPE_GPON, 1_244_000_000, 2000, 1.0, 1.0),
    ])
    b.add(ENT_PHYSICAL_DESCR, (GPON_RX_SENSOR,), _const(b"PON optical receive power"))
    b.add(ENT_PHYSICAL_DESCR, (GPON_TX_SENSOR,), _const(b"PON optical transmit power"))
    e = ENT_PHY_SENSOR_ENTRY
    for sensor, get in ((GPON_RX_SENSOR, ModemView.gpon_rx_tenth_dbm),
                        (GPON_TX_SENSOR, ModemView.gpon_tx_tenth_dbm)):
        inst = (sensor,)
        b.add((*e, 1), inst, _const(14))  # dBm(14)
        b.add((*e, 2), inst, _const(9))  # units(9)
        b.add((*e, 3), inst, _const(1))  # one decimal: tenths
        b.add((*e, 4), inst, get)
        b.add((*e, 5), inst, _const(1))  # ok(1)
    return b.build(lan_if_index=1)


def ethernet_template() -> Template:
    b = _Builder("ethernet")
    _add_system(b, "ethernet")
    _add_interfaces(b, [
        _lan(),
        _Interface(2, "wan0", "Ethernet WAN port", IFTYPE_ETHERNET, 1_000_000_000, 1500, 1.0, 1.0),
    ])
    return b.build(lan_if_index=1)


def build_templates() -> dict[str, Template]:
    """Every template a fleet can need, keyed like ``ModemSpec.template_key``."""
    out = {f"docsis{ds}": docsis_template(ds, DOCSIS_US_CHANNELS) for _, _, ds in DOCSIS_PLANS}
    wide = docsis_template(*DOCSIS_WIDE)
    out[wide.name] = wide
    out["dsl"] = dsl_template()
    out["gpon"] = gpon_template()
    out["ethernet"] = ethernet_template()
    return out
