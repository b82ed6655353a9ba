"""The wire model: the one contract between probes, agent and collector.

Every field carries its unit in its name. Results are a tagged union so the
collector can validate a whole batch with one decode and reject anything that
does not match. ``SCHEMA_VERSION`` is bumped on any incompatible change; the
collector refuses batches with a newer schema than it knows. Additive changes
(a new optional field, a new result type such as ``HeadendReading``) keep the
version: every record an older agent wrote still decodes. An older collector
cannot read the new result type, so collectors are upgraded first; an agent
only polls headends its collector's assignment (or its own headend CSV) names.
"""

from __future__ import annotations

import gc
from typing import Annotated, Literal, TypeVar

import msgspec

SCHEMA_VERSION = 1

Technology = Literal["docsis", "dsl", "gpon", "ethernet"]
TECHNOLOGIES: tuple[str, ...] = ("docsis", "dsl", "gpon", "ethernet")
ProbeKind = Literal["snmp", "ping", "throughput", "path", "headend"]
PROBE_KINDS: tuple[str, ...] = ("snmp", "ping", "throughput", "path", "headend")
# The access device a line hangs off, polled once for all its lines (probes/snmp/headend.py).
HeadendKind = Literal["cmts", "dslam", "olt"]
HEADEND_KINDS: tuple[str, ...] = ("cmts", "dslam", "olt")
# Which headend kind serves which line technology (a node may have one of each).
HEADEND_KIND_OF: dict[str, str] = {"docsis": "cmts", "dsl": "dslam", "gpon": "olt"}

# Counters are stored as signed 64-bit (SQLite, PostgreSQL bigint). A Counter64
# beyond 2**63-1 would take ~290 years at 1 Gbit/s to reach, so probes report
# such a value as missing rather than widen every store; larger is rejected.
COUNTER_MAX = 2**63 - 1
Counter = Annotated[int, msgspec.Meta(ge=0, le=COUNTER_MAX)]
# Physical levels: generous bounds that still reject absurd values (1e308 etc.).
Level = Annotated[float, msgspec.Meta(ge=-1000.0, le=1000.0)]
NonNeg = Annotated[float, msgspec.Meta(ge=0.0, le=1e12)]
Port = Annotated[int, msgspec.Meta(ge=1, le=65535)]
ShortText = Annotated[str, msgspec.Meta(max_length=256)]
Account = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")]
NodeName = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")]
Timestamp = Annotated[float, msgspec.Meta(ge=0.0, le=1e11)]
# A MAC address, always normalised: lowercase, colon-separated (probes.inventory.normalise_mac).
MacAddress = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")]
HeadendId = Annotated[
    str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")
]
# The languages customer texts exist in (IVR answers, outage notices); a
# line's inventory ``language`` picks one (collector/verdicts/messages.py).
Language = Literal["en", "sv", "pl"]
LANGUAGES: tuple[str, ...] = ("en", "sv", "pl")


class Target(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One customer line to watch. ``credentials`` names an entry in the agent's
    config, so secrets never travel with the inventory."""

    account: Account
    host: ShortText
    technology: Technology
    node: NodeName
    plan_down_mbps: NonNeg
    plan_up_mbps: NonNeg
    port: Port = 161
    snmp_profile: ShortText | None = None
    credentials: ShortText = "default"
    iperf_host: ShortText | None = None
    iperf_port: Port = 5201
    agent: ShortText | None = None
    # Matching the line to its headend's rows (all optional; docs/CONTRACTS.md):
    # the modem's MAC (CMTS rows, DSLAM/OLT rows that carry one), the headend
    # serving it (default: the headend of its node and technology), and its
    # port there (DSLAM port ifName or ifIndex; OLT ONT id or serial).
    mac: MacAddress | None = None
    headend: HeadendId | None = None
    headend_port: ShortText | None = None
    # The customer's language for texts sent to them (outage notices); None:
    # the collector's ``default_language``, so changing that moves every line
    # without one. Agents ignore it.
    language: Language | None = None


class Headend(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """A CMTS, DSLAM or OLT polled once per ``[headend] interval_s`` for the view
    it has of all its lines. It serves the inventory lines of ``nodes`` whose
    technology matches its ``kind`` (cmts: docsis, dslam: dsl, olt: gpon), and
    any line whose ``headend`` column names it."""

    headend: HeadendId
    host: ShortText
    kind: HeadendKind
    nodes: Annotated[list[NodeName], msgspec.Meta(max_length=4096)] = []
    port: Port = 161
    snmp_profile: ShortText | None = None
    credentials: ShortText = "default"
    agent: ShortText | None = None


# ``gc=False`` on the structs that hold lists (records, readings, batches): the
# collector keeps the latest records of every account, and tracked records made
# the cyclic GC walk all of them again and again during ingest (~10 us a
# record). These trees of frozen structs cannot form reference cycles (nothing
# in them points back up), which is what gc=False requires; wire format and
# validation are unchanged. Structs of scalars are untracked by msgspec anyway.

# --- SNMP readings -----------------------------------------------------------


class DownstreamChannel(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    index: int
    frequency_hz: Counter | None = None
    power_dbmv: Level | None = None
    snr_db: Level | None = None
    unerrored: Counter | None = None
    corrected: Counter | None = None
    uncorrectable: Counter | None = None


class UpstreamChannel(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    index: int
    frequency_hz: Counter | None = None
    tx_power_dbmv: Level | None = None


# Pre-equalization figures (probes/pnm.py): dB ratios, where +-100 dB stands for
# "no energy" (beyond what 16-bit taps can show), and tap positions (DOCSIS: <= 64).
PnmDb = Annotated[float, msgspec.Meta(ge=-200.0, le=200.0)]
TapNumber = Annotated[int, msgspec.Meta(ge=1, le=64)]
PreEqErrorKind = Literal[
    "input", "empty", "short", "header", "length", "zero_main", "main_not_largest"
]


class PreEqSummary(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One upstream channel's pre-equalizer, decoded by probes/pnm.py with
    CableLabs' PNM metrics. With ``error`` set the modem's value could not be
    decoded (``error_detail`` says why) and no figures follow; the echo fields
    are absent when no tap after the main one has energy."""

    # The upstream channel's ifIndex; 0: the modem's one upstream, channel unknown.
    index: Annotated[int, msgspec.Meta(ge=0, le=2**32 - 1)]
    # us: docsIf3CmStatusUsEqData (per channel); cm: docsIfCmStatusEqualizationData.
    source: Literal["us", "cm"] = "us"
    error: PreEqErrorKind | None = None
    error_detail: ShortText | None = None
    taps: TapNumber | None = None
    main_tap: TapNumber | None = None  # 1-based, as the header counts
    mtr_db: PnmDb | None = None  # main tap / all other taps
    nmter_db: PnmDb | None = None  # non-main taps / total
    mtc_db: PnmDb | None = None  # total / main tap (main tap compression)
    pre_main_db: PnmDb | None = None  # taps before the main one / total
    post_main_db: PnmDb | None = None  # taps after the main one / total
    echo_offset: Annotated[int, msgspec.Meta(ge=1, le=63)] | None = None  # taps after main
    echo_dbc: PnmDb | None = None  # strongest post-main tap relative to the main tap
    echo_delay_ns: NonNeg | None = None
    echo_distance_m: NonNeg | None = None  # delay x c x velocity_factor / 2
    symbol_rate_sps: NonNeg | None = None  # from docsIfUpChannelWidth / 1.25
    symbol_rate_assumed: bool = False  # width unknown: 5.12 Msym/s assumed
    velocity_factor: Annotated[float, msgspec.Meta(gt=0.0, le=1.0)] | None = None


class DocsisLine(
    msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, gc=False, tag="docsis"
):
    downstream: list[DownstreamChannel] = []
    upstream: list[UpstreamChannel] = []
    cm_status: int | None = None  # docsIfCmStatusValue; 12 = operational
    t3_timeouts: Counter | None = None
    t4_timeouts: Counter | None = None
    # Upstream pre-equalization per channel (issue 15, PNM). Optional: older
    # agents omit it and older collectors ignore it, so the schema version stays.
    pre_eq: Annotated[list[PreEqSummary], msgspec.Meta(max_length=64)] | None = None


class DslLine(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, tag="dsl"):
    snr_margin_down_db: Level | None = None
    snr_margin_up_db: Level | None = None
    attenuation_down_db: Level | None = None
    attenuation_up_db: Level | None = None
    sync_down_kbps: NonNeg | None = None
    sync_up_kbps: NonNeg | None = None
    crc_errors: Counter | None = None
    fec_errors: Counter | None = None


class GponLine(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, tag="gpon"):
    rx_power_dbm: Level | None = None
    tx_power_dbm: Level | None = None


Line = DocsisLine | DslLine | GponLine

InterfaceRole = Literal["lan", "wan", "other"]


class InterfaceStatus(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    index: int
    name: ShortText = ""
    role: InterfaceRole = "other"
    oper_up: bool | None = None
    in_octets: Counter | None = None
    out_octets: Counter | None = None
    in_errors: Counter | None = None
    out_errors: Counter | None = None


class SnmpReading(
    msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, gc=False, tag="snmp"
):
    sys_uptime_s: NonNeg | None = None
    sys_descr: Annotated[str, msgspec.Meta(max_length=1024)] | None = None
    interfaces: list[InterfaceStatus] = []
    line: Line | None = None


# --- headend readings (probes/snmp/headend.py) ---------------------------------

# RFC 4546 DOCS-IF-MIB docsIfCmtsCmStatusValue, by value 1..9.
CmStatus = Literal[
    "other", "ranging", "rangingAborted", "rangingComplete", "ipComplete",
    "registrationComplete", "accessDenied", "operational", "registeredBPIInitializing",
]
# DOCS-IF3-MIB CmtsCmRegState (docsIf3CmtsCmRegStatusValue); values 1, 2, 4..18.
CmRegStatus = Literal[
    "other", "initialRanging", "rangingAutoAdjComplete", "dhcpv4Complete",
    "registrationComplete", "operational", "bpiInit", "startEae", "startDhcpv4",
    "startDhcpv6", "dhcpv6Complete", "startConfigFileDownload", "configFileDownloadComplete",
    "startRegistration", "forwardingDisabled", "rfMuteAll",
]
# IF-MIB ifOperStatus of a DSLAM line port (up = in showtime).
PortState = Literal["up", "down", "testing", "unknown", "dormant", "notPresent", "lowerLayerDown"]
OntState = Literal["online", "offline"]
# DocsEqualizerData is at most 260 octets (RFC 4546: 4 + 4 x 64 taps); a little
# room for vendor variants, and longer values are dropped (counted as oversize).
EQ_DATA_MAX = 1024
EqualizerData = Annotated[bytes, msgspec.Meta(max_length=EQ_DATA_MAX)]
MAX_HEADEND_ROWS = 32768  # rows of one kind in one reading (a large CMTS has ~10k modems)
ChannelIndex = Annotated[int, msgspec.Meta(ge=0, le=2**32 - 1)]
RowCount = Annotated[int, msgspec.Meta(ge=0, le=10**9)]


class UpstreamQuality(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One upstream channel as the CMTS receives it (docsIfSignalQualityTable,
    indexed by the upstream channel's ifIndex)."""

    index: ChannelIndex
    name: ShortText | None = None  # ifName (ifDescr where ifName is absent)
    oper_up: bool | None = None  # ifOperStatus up(1)
    snr_db: Level | None = None  # docsIfSigQSignalNoise, TenthdB
    unerrored: Counter | None = None  # codewords; Counter64 Ext* preferred
    corrected: Counter | None = None
    uncorrectable: Counter | None = None


class CmtsModemUpstream(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One modem on one upstream channel (DOCS-IF3-MIB docsIf3CmtsCmUsStatusTable)."""

    index: ChannelIndex  # the upstream channel's ifIndex
    rx_power_dbmv: Level | None = None  # TenthdBmV
    snr_db: Level | None = None  # TenthdB
    unerrored: Counter | None = None
    corrected: Counter | None = None
    uncorrectable: Counter | None = None
    equalization: EqualizerData | None = None  # docsIf3CmtsCmUsStatusEqData (if profiled)


class CmtsModem(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, gc=False):
    """One cable modem as its CMTS sees it (docsIfCmtsCmStatusTable, RFC 4546,
    joined by MAC with docsIf3CmtsCmRegStatusTable / docsIf3CmtsCmUsStatusTable)."""

    mac: MacAddress
    account: Account | None = None  # the inventory line with this MAC (set by the agent)
    status: CmStatus | None = None  # docsIfCmtsCmStatusValue
    reg_status: CmRegStatus | None = None  # docsIf3CmtsCmRegStatusValue
    ds_channel: ChannelIndex | None = None  # docsIfCmtsCmStatusDownChannelIfIndex
    us_channel: ChannelIndex | None = None  # docsIfCmtsCmStatusUpChannelIfIndex
    us_rx_power_dbmv: Level | None = None  # docsIfCmtsCmStatusRxPower, TenthdBmV
    us_snr_db: Level | None = None  # docsIfCmtsCmStatusSignalNoise, TenthdB
    unerrored: Counter | None = None  # codewords from this modem; Ext (Counter64) preferred
    corrected: Counter | None = None
    uncorrectable: Counter | None = None
    # docsIfCmtsCmStatusEqualizationData, raw (decoded by probes/pnm.py)
    equalization: EqualizerData | None = None
    upstream: Annotated[list[CmtsModemUpstream], msgspec.Meta(max_length=64)] = []


class DslPort(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One DSLAM line port (ADSL-LINE-MIB RFC 2662 / VDSL2-LINE-MIB RFC 5650,
    indexed by the port's ifIndex). Margins and attenuation of both ends:
    *_down_* as measured by the modem (ATU-R / xTU-R), *_up_* by the DSLAM."""

    port: ShortText  # ifName, else the ifIndex as text
    if_index: ChannelIndex
    mac: MacAddress | None = None  # only where a vendor table maps the port to a MAC
    account: Account | None = None  # the inventory line on this port (set by the agent)
    state: PortState | None = None  # ifOperStatus
    snr_margin_down_db: Level | None = None
    snr_margin_up_db: Level | None = None
    attenuation_down_db: Level | None = None
    attenuation_up_db: Level | None = None
    sync_down_kbps: NonNeg | None = None
    sync_up_kbps: NonNeg | None = None
    attainable_down_kbps: NonNeg | None = None
    attainable_up_kbps: NonNeg | None = None


class OntOptics(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One ONT as its OLT sees it (vendor tables; see probes/snmp/headend_profiles.py)."""

    ont: ShortText  # "<PON port ifName or ifIndex>:<ONT id>"
    serial: ShortText | None = None  # e.g. HWTC1A2B3C4D
    mac: MacAddress | None = None
    account: Account | None = None  # the inventory line of this ONT (set by the agent)
    state: OntState | None = None
    rx_power_dbm: Level | None = None  # at the ONT (downstream)
    tx_power_dbm: Level | None = None  # from the ONT
    olt_rx_power_dbm: Level | None = None  # this ONT's light at the OLT (upstream)


class HeadendProblems(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """What the headend answered that could not go into the reading, counted.
    A table the device simply does not have is ``HeadendReading.absent``, not here."""

    bad_key: RowCount = 0  # rows without a usable MAC / port / ONT id (bad length, missing)
    duplicate_key: RowCount = 0  # a MAC seen on two rows of one table (first kept)
    wrong_type: RowCount = 0  # cells of the wrong SNMP type
    out_of_range: RowCount = 0  # cells outside the model's bounds (or an unknown enum value)
    oversize: RowCount = 0  # equalization data longer than EQ_DATA_MAX
    walk_errors: RowCount = 0  # tables whose walk failed part way (kept what came)
    unmatched: RowCount = 0  # rows whose MAC / port is in no inventory line of this headend


class HeadendReading(
    msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, gc=False, tag="headend"
):
    """One poll of a headend: its own scalars and per-line rows. Sent as a
    ProbeRecord whose ``account`` is the headend id and ``probe`` is "headend";
    rows carry the matched inventory ``account``."""

    headend: HeadendId
    kind: HeadendKind
    sys_uptime_s: NonNeg | None = None
    sys_descr: Annotated[str, msgspec.Meta(max_length=1024)] | None = None
    upstreams: Annotated[list[UpstreamQuality], msgspec.Meta(max_length=4096)] = []
    modems: Annotated[list[CmtsModem], msgspec.Meta(max_length=MAX_HEADEND_ROWS)] = []
    ports: Annotated[list[DslPort], msgspec.Meta(max_length=MAX_HEADEND_ROWS)] = []
    onts: Annotated[list[OntOptics], msgspec.Meta(max_length=MAX_HEADEND_ROWS)] = []
    # Profile tables the device answered nothing for (e.g. "cm_status" on a CMTS
    # that does not implement docsIfCmtsCmStatusTable): absent, not garbage.
    absent: Annotated[list[ShortText], msgspec.Meta(max_length=64)] = []
    problems: HeadendProblems = HeadendProblems()
    truncated: bool = False  # a walk hit max rows or the time budget: rows are missing


# --- other probes --------------------------------------------------------------


class PingResult(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, tag="ping"):
    sent: Annotated[int, msgspec.Meta(ge=0, le=1_000_000)]
    received: Annotated[int, msgspec.Meta(ge=0, le=1_000_000)]
    rtt_min_ms: NonNeg | None = None
    rtt_avg_ms: NonNeg | None = None
    rtt_max_ms: NonNeg | None = None
    jitter_ms: NonNeg | None = None
    # Probes answered by an ICMP error (or refused by the kernel) instead of a reply,
    # and what the last one said ("host unreachable (ICMP 3/1)"): a dark modem in a
    # real network is reported, not just silent. Optional: older agents omit them.
    errors: Annotated[int, msgspec.Meta(ge=0, le=1_000_000)] = 0
    error: Annotated[str, msgspec.Meta(max_length=200)] | None = None

    @property
    def loss_ratio(self) -> float:
        return 1.0 - self.received / self.sent if self.sent else 1.0


class ThroughputResult(
    msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, tag="throughput"
):
    down_mbps: NonNeg | None = None
    up_mbps: NonNeg | None = None
    retransmits: Counter | None = None
    duration_s: NonNeg = 0.0
    streams: Annotated[int, msgspec.Meta(ge=1, le=128)] = 1
    server: ShortText = ""


class PathHop(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    ttl: Annotated[int, msgspec.Meta(ge=1, le=255)]
    address: ShortText | None = None
    rtt_ms: NonNeg | None = None


class PathResult(
    msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, gc=False, tag="path"
):
    hops: list[PathHop] = []
    last_responding_hop: ShortText | None = None
    reached: bool = False
    path_mtu: Annotated[int, msgspec.Meta(ge=68, le=65535)] | None = None
    tcp_port: Port | None = None
    tcp_open: bool | None = None


# "unresolved": the target's DNS name did not resolve (issue 16; an addition, so
# collectors are upgraded first, as for new result types).
ErrorKind = Literal[
    "timeout", "refused", "unreachable", "auth", "decode", "busy", "config", "internal",
    "unresolved",
]


class ProbeError(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, tag="error"):
    """A probe that did not produce a measurement. A normal value, not an exception."""

    kind: ErrorKind
    message: Annotated[str, msgspec.Meta(max_length=2048)] = ""


Result = SnmpReading | PingResult | ThroughputResult | PathResult | HeadendReading | ProbeError


class ProbeRecord(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, gc=False):
    """One probe run against one account's target."""

    account: Account
    probe: ProbeKind
    started_at: Timestamp
    duration_s: NonNeg
    result: Result
    job_id: ShortText | None = None


class Batch(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, gc=False):
    """What an agent pushes. ``batch_id`` makes a retried push a no-op."""

    batch_id: Annotated[str, msgspec.Meta(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
    agent: ShortText
    sent_at: Timestamp
    records: Annotated[list[ProbeRecord], msgspec.Meta(max_length=100_000)]
    schema: int = SCHEMA_VERSION
    # The agent's poll cycle ([agent] interval_s): the collector calls the agent
    # silent after three of them without a push. Optional, so batches of agents
    # older than the field stay valid (the collector then assumes the default
    # 300 s); a compatible addition, so the schema version stays.
    interval_s: Annotated[float, msgspec.Meta(gt=0.0, le=1e9)] | None = None


# --- collector -> agent ------------------------------------------------------------


class Assignment(msgspec.Struct, frozen=True, kw_only=True):
    """The targets an agent owns (GET /v1/agents/{agent}/assignment)."""

    agent: str
    targets: list[Target]
    schema: int = SCHEMA_VERSION
    # The headends this agent polls (its rows, plus rows without an agent, like
    # targets). Older collectors omit it; older agents ignore it.
    headends: list[Headend] = []


class Job(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """An on-demand check handed to the owning agent (GET /v1/agents/{agent}/jobs)."""

    job_id: str
    account: str
    probes: list[ProbeKind] = msgspec.field(default_factory=lambda: ["snmp", "ping"])
    created_at: Timestamp = 0.0


class JobList(msgspec.Struct, frozen=True, kw_only=True):
    jobs: list[Job]


# --- one encode/decode place --------------------------------------------------------


class WireError(ValueError):
    """A body that is not a valid batch; the message says why, for a 4xx answer."""


_batch_decoder = msgspec.json.Decoder(Batch)
_record_decoder = msgspec.json.Decoder(ProbeRecord)
_encoder = msgspec.json.Encoder()


def encode(obj: msgspec.Struct) -> bytes:
    return _encoder.encode(obj)


def decode_batch(body: bytes) -> Batch:
    """Validate a pushed batch; raise WireError with a reason a client can act on."""
    # The cyclic GC paused for the decode: a decoded batch is a tree (no
    # cycles to find), yet its thousands of new lists would trigger several
    # collections that walk the collector's whole heap (~6 us a DOCSIS record).
    # Re-enabled only if it was on (another thread may have paused it too).
    paused = gc.isenabled()
    if paused:
        gc.disable()
    try:
        batch = _batch_decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise WireError(f"invalid batch: {exc}") from None
    except msgspec.DecodeError as exc:
        raise WireError(f"malformed JSON: {exc}") from None
    except RecursionError:  # e.g. 100k nested '[': refuse, don't crash the handler
        raise WireError("malformed JSON: nested too deeply") from None
    finally:
        if paused:
            gc.enable()
    if batch.schema > SCHEMA_VERSION:
        raise WireError(f"unsupported schema {batch.schema}; this collector knows {SCHEMA_VERSION}")
    return batch


class _RawRecords(msgspec.Struct, gc=False):
    """A batch's records as the JSON the agent sent, one slice each."""

    records: list[msgspec.Raw] = []


_raw_records_decoder = msgspec.json.Decoder(_RawRecords)


def record_slices(body: bytes) -> list[msgspec.Raw]:
    """Each record of a body ``decode_batch`` accepted, as its own JSON text
    (``msgspec.Raw``, a view into ``body``): a store keeps these instead of
    encoding the decoded records again. A second scan of the body, ~5x
    cheaper than the encode it saves. Call only after ``decode_batch``
    succeeded on the same body (this does not validate)."""
    return _raw_records_decoder.decode(body).records


def decode_record(body: bytes) -> ProbeRecord:
    try:
        return _record_decoder.decode(body)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise WireError(f"invalid record: {exc}") from None


T = TypeVar("T")


def decode_as(body: bytes, type_: type[T]) -> T:
    """Decode any wire type (Target, Assignment, JobList...) with validation."""
    try:
        return msgspec.json.decode(body, type=type_)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise WireError(f"invalid {type_.__name__}: {exc}") from None
    except RecursionError:
        raise WireError(f"invalid {type_.__name__}: malformed JSON, nested too deeply") from None
