"""Headend profiles: which MIB columns of a CMTS, DSLAM or OLT mean what. Data, not code.

A profile has a ``kind`` (cmts, dslam, olt) and ``tables``: ``table -> field ->
[oid, scale, kind(, enum)]``. Every column of a table is walked with GETBULK
(bounded by rows and time, probes/snmp/headend.py); rows are keyed by the index
after the column OID. Column kinds: ``float`` (a level: raw x scale), ``counter``
(0..2**63-1), ``int``, ``text``, ``mac`` (6 octets), ``octets`` (raw bytes,
bounded), ``serial`` (an ONT serial: 4 vendor letters + 4 octets -> HWTC1A2B3C4D),
``enum`` (an integer named through ``enums[NAME]``).

What the tables become (probes/snmp/headend_reading.py) is fixed per kind, by
table name; a profile may change OIDs, scales and enum names, drop fields
(``field = []``), and (for ``olt``) bring its own tables:

- cmts: ``upstream_quality`` (docsIfSignalQualityTable, one row per upstream
  channel ifIndex), ``cm_status`` (docsIfCmtsCmStatusTable, per modem),
  ``cm_reg_status`` (docsIf3CmtsCmRegStatusTable) and ``cm_us_status``
  (docsIf3CmtsCmUsStatusTable, index regStatusId.channelIfIndex), joined by MAC.
  A field ``X_ext`` (Counter64) is preferred; ``X`` (Counter32) is walked only
  when the device has no ``X_ext``.
- dslam: ADSL-LINE-MIB (RFC 2662) and VDSL2-LINE-MIB (RFC 5650) per line port
  ifIndex; channel tables (indexed by the channel's ifIndex) are mapped to their
  line through ifStackTable; port names and states come from IF-MIB (GET).
- olt: every table is indexed by the same ONT index (for Huawei: PON port
  ifIndex . ONT id) and joined on it; fields are OntOptics' names (serial, mac,
  state, rx_power_dbm, tx_power_dbm, olt_rx_power_dbm). The ONT is named
  ``<ifName of the first index part>:<the rest>``.

There is no standard MIB for ONT optics at the OLT (ONTs are managed over OMCI,
ITU-T G.988), so ``olt`` is a vendor table family: Huawei HUAWEI-XPON-MIB
(MA5600T/MA5800; OIDs as compiled by nocproject/noc cmibs/huawei_xpon_mib.py).
Another vendor is a TOML profile (``load_headend_profiles(path)``)::

    [headend_profiles.zte-c300]
    kind = "olt"
    [headend_profiles.zte-c300.tables.onu]
    rx_power_dbm = ["1.3.6.1.4.1.3902.1012.3.50.12.1.1.10", 0.002, "float"]
    state = ["1.3.6.1.4.1.3902.1012.3.28.2.1.4", 1, "enum", "ont_state"]
    [headend_profiles.zte-c300.enums.ont_state]
    1 = "offline"
    3 = "online"

and the headend's ``snmp_profile`` column names it. A TOML profile named like a
built-in one is merged into it (``base`` starts from another built-in).

Sources: DOCS-IF-MIB RFC 4546 and DOCS-IF3-MIB (CableLabs) as compiled by
pysnmp (lextudio/mibs.pysnmp.com); ADSL-LINE-MIB and VDSL2-LINE-MIB as compiled
by nocproject/noc; ../shared/THRESHOLDS.md. ADSL rates follow the transmit
side (adslAtucChanCurrTxRate = downstream, as LibreNMS reads it) and attainable
rates the receive side (adslAturCurrAttainableRate = downstream).
"""

from __future__ import annotations

import copy
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from probes.snmp.ber import OID, BerError, parse_oid

ColumnKind = Literal["float", "counter", "int", "text", "mac", "octets", "serial", "enum"]
COLUMN_KINDS: frozenset[str] = frozenset(
    {"float", "counter", "int", "text", "mac", "octets", "serial", "enum"}
)
PROFILE_KINDS = ("cmts", "dslam", "olt")


@dataclass(frozen=True, slots=True)
class HeadendColumn:
    oid: OID
    scale: float = 1.0
    kind: ColumnKind = "float"
    enum: str | None = None  # the enums[...] map of an ``enum`` column


@dataclass(frozen=True, slots=True)
class HeadendProfile:
    name: str
    kind: str  # cmts | dslam | olt
    tables: dict[str, dict[str, HeadendColumn]]
    enums: dict[str, dict[int, str]] = field(default_factory=dict)


class HeadendProfileError(ValueError):
    """A headend profile (built-in or TOML) that does not make sense."""


# --- the data -------------------------------------------------------------------------

_DOCS_IF = "1.3.6.1.2.1.10.127.1"  # DOCS-IF-MIB docsIfMibObjects (RFC 4546)
_DOCS_IF3 = "1.3.6.1.4.1.4491.2.1.20.1"  # DOCS-IF3-MIB docsIf3MibObjects
_ADSL = "1.3.6.1.2.1.10.94.1.1"  # ADSL-LINE-MIB adslMibObjects (RFC 2662)
_XDSL2 = "1.3.6.1.2.1.10.251.1"  # VDSL2-LINE-MIB xdsl2Objects (RFC 5650)
_HW_XPON = "1.3.6.1.4.1.2011.6.128.1.1.2"  # HUAWEI-XPON-MIB hwXponDeviceControlObjects

_ENUMS: dict[str, dict[int, str]] = {
    # RFC 4546 docsIfCmtsCmStatusValue
    "cm_status": {
        1: "other", 2: "ranging", 3: "rangingAborted", 4: "rangingComplete", 5: "ipComplete",
        6: "registrationComplete", 7: "accessDenied", 8: "operational",
        9: "registeredBPIInitializing",
    },
    # DOCS-IF3-MIB CmtsCmRegState
    "cm_reg_status": {
        1: "other", 2: "initialRanging", 4: "rangingAutoAdjComplete", 5: "dhcpv4Complete",
        6: "registrationComplete", 8: "operational", 9: "bpiInit", 10: "startEae",
        11: "startDhcpv4", 12: "startDhcpv6", 13: "dhcpv6Complete",
        14: "startConfigFileDownload", 15: "configFileDownloadComplete",
        16: "startRegistration", 17: "forwardingDisabled", 18: "rfMuteAll",
    },
    # HUAWEI-XPON-MIB hwGponDeviceOntControlRunStatus
    "ont_state": {1: "online", 2: "offline"},
}

_RAW_PROFILES: dict[str, dict[str, Any]] = {
    "cmts": {
        "kind": "cmts",
        "tables": {
            # docsIfSignalQualityTable .1.4.1, at the CMTS one row per upstream channel
            "upstream_quality": {
                "unerrored": (f"{_DOCS_IF}.1.4.1.2", 1, "counter"),
                "corrected": (f"{_DOCS_IF}.1.4.1.3", 1, "counter"),
                "uncorrectable": (f"{_DOCS_IF}.1.4.1.4", 1, "counter"),
                "snr_db": (f"{_DOCS_IF}.1.4.1.5", 0.1, "float"),  # TenthdB
                "unerrored_ext": (f"{_DOCS_IF}.1.4.1.8", 1, "counter"),  # Counter64
                "corrected_ext": (f"{_DOCS_IF}.1.4.1.9", 1, "counter"),
                "uncorrectable_ext": (f"{_DOCS_IF}.1.4.1.10", 1, "counter"),
            },
            # docsIfCmtsCmStatusTable .3.3.1, index docsIfCmtsCmStatusIndex
            "cm_status": {
                "mac": (f"{_DOCS_IF}.3.3.1.2", 1, "mac"),
                "ds_channel": (f"{_DOCS_IF}.3.3.1.4", 1, "int"),
                "us_channel": (f"{_DOCS_IF}.3.3.1.5", 1, "int"),
                "us_rx_power_dbmv": (f"{_DOCS_IF}.3.3.1.6", 0.1, "float"),  # TenthdBmV
                "equalization": (f"{_DOCS_IF}.3.3.1.8", 1, "octets"),  # DocsEqualizerData
                "status": (f"{_DOCS_IF}.3.3.1.9", 1, "enum", "cm_status"),
                "unerrored": (f"{_DOCS_IF}.3.3.1.10", 1, "counter"),
                "corrected": (f"{_DOCS_IF}.3.3.1.11", 1, "counter"),
                "uncorrectable": (f"{_DOCS_IF}.3.3.1.12", 1, "counter"),
                "us_snr_db": (f"{_DOCS_IF}.3.3.1.13", 0.1, "float"),  # TenthdB
                "unerrored_ext": (f"{_DOCS_IF}.3.3.1.15", 1, "counter"),
                "corrected_ext": (f"{_DOCS_IF}.3.3.1.16", 1, "counter"),
                "uncorrectable_ext": (f"{_DOCS_IF}.3.3.1.17", 1, "counter"),
            },
            # docsIf3CmtsCmRegStatusTable .3.1, index docsIf3CmtsCmRegStatusId
            "cm_reg_status": {
                "mac": (f"{_DOCS_IF3}.3.1.2", 1, "mac"),
                "reg_status": (f"{_DOCS_IF3}.3.1.6", 1, "enum", "cm_reg_status"),
            },
            # docsIf3CmtsCmUsStatusTable .4.1, index regStatusId.channelIfIndex: the
            # levels per upstream channel. The modem's codewords come from cm_status
            # (all its channels); per channel they would be 3 more objects per modem
            # and channel (+50 % of the poll, bench/bench_headend.py), and EqData 260 B
            # more. Either is one line of TOML (CM_US_STATUS_EXTRA below).
            "cm_us_status": {
                "rx_power_dbmv": (f"{_DOCS_IF3}.4.1.3", 0.1, "float"),
                "snr_db": (f"{_DOCS_IF3}.4.1.4", 0.1, "float"),
            },
        },
    },
    "dslam": {
        "kind": "dslam",
        "tables": {
            # adslAtucPhysTable: the DSLAM end (its receiver = upstream)
            "adsl_atuc_phys": {
                "snr_margin_up_db": (f"{_ADSL}.2.1.4", 0.1, "float"),  # adslAtucCurrSnrMgn
                "attenuation_up_db": (f"{_ADSL}.2.1.5", 0.1, "float"),  # adslAtucCurrAtn
                "attainable_up_kbps": (f"{_ADSL}.2.1.8", 0.001, "float"),  # bit/s
            },
            # adslAturPhysTable: the modem end (its receiver = downstream)
            "adsl_atur_phys": {
                "snr_margin_down_db": (f"{_ADSL}.3.1.4", 0.1, "float"),
                "attenuation_down_db": (f"{_ADSL}.3.1.5", 0.1, "float"),
                "attainable_down_kbps": (f"{_ADSL}.3.1.8", 0.001, "float"),
            },
            # adslAtucChanTable / adslAturChanTable: transmit rates, by channel ifIndex
            "adsl_atuc_chan": {"sync_down_kbps": (f"{_ADSL}.4.1.2", 0.001, "float")},
            "adsl_atur_chan": {"sync_up_kbps": (f"{_ADSL}.5.1.2", 0.001, "float")},
            # xdsl2LineTable: attainable rates (bit/s)
            "vdsl2_line": {
                "attainable_down_kbps": (f"{_XDSL2}.1.1.1.20", 0.001, "float"),
                "attainable_up_kbps": (f"{_XDSL2}.1.1.1.21", 0.001, "float"),
            },
            # xdsl2LineBandTable, index ifIndex.band: upstream(1), downstream(2) (0.1 dB)
            "vdsl2_band": {
                "attenuation_db": (f"{_XDSL2}.1.2.1.2", 0.1, "float"),  # LnAtten
                "snr_margin_db": (f"{_XDSL2}.1.2.1.4", 0.1, "float"),
            },
            # xdsl2ChannelStatusTable, index channelIfIndex.unit: xtuc(1), xtur(2);
            # the xTU-R row is the downstream rate (measured at its receiver)
            "vdsl2_chan": {"rate_kbps": (f"{_XDSL2}.2.2.1.2", 0.001, "float")},
            # ifStackStatus, index higher.lower: a channel stacked on its line port
            "if_stack": {"status": ("1.3.6.1.2.1.31.1.2.1.3", 1, "int")},
        },
    },
    "olt": {
        "kind": "olt",
        "tables": {
            # Huawei hwGponDeviceOntConfigInfoTable (.43), index ponIfIndex.ontId
            "ont_config": {"serial": (f"{_HW_XPON}.43.1.3", 1, "serial")},  # hwGponDeviceOntSn
            # hwGponDeviceOntControlInfoTable (.46)
            "ont_control": {
                "state": (f"{_HW_XPON}.46.1.15", 1, "enum", "ont_state"),  # ...ControlRunStatus
            },
            # hwGponDeviceOntOpticalDdmInfoTable (.51), 0.01 dBm; 2147483647 = no value
            "ont_optics": {
                "tx_power_dbm": (f"{_HW_XPON}.51.1.3", 0.01, "float"),
                "rx_power_dbm": (f"{_HW_XPON}.51.1.4", 0.01, "float"),
                "olt_rx_power_dbm": (f"{_HW_XPON}.51.1.6", 0.01, "float"),  # ...OltRxOntPower
            },
        },
    },
}


# The docsIf3CmtsCmUsStatusTable columns left out of the built-in cmts profile,
# ready to add (``[headend_profiles.cmts.tables.cm_us_status]`` in TOML):
CM_US_STATUS_EXTRA: dict[str, tuple[str, float, str]] = {
    "unerrored": (f"{_DOCS_IF3}.4.1.7", 1, "counter"),
    "corrected": (f"{_DOCS_IF3}.4.1.8", 1, "counter"),
    "uncorrectable": (f"{_DOCS_IF3}.4.1.9", 1, "counter"),
    "equalization": (f"{_DOCS_IF3}.4.1.6", 1, "octets"),  # docsIf3CmtsCmUsStatusEqData
}


def _column(spec: Any, where: str) -> HeadendColumn:
    if isinstance(spec, HeadendColumn):
        return spec
    if not isinstance(spec, list | tuple) or not 1 <= len(spec) <= 4:
        raise HeadendProfileError(f"{where}: expected [oid, scale, kind(, enum)], got {spec!r}")
    oid_text = spec[0]
    scale = spec[1] if len(spec) > 1 else 1.0
    kind = spec[2] if len(spec) > 2 else "float"
    enum = spec[3] if len(spec) > 3 else None
    if not isinstance(oid_text, str):
        raise HeadendProfileError(f"{where}: OID must be a string")
    try:
        oid = parse_oid(oid_text)
    except BerError as exc:
        raise HeadendProfileError(f"{where}: {exc}") from None
    if not isinstance(scale, int | float) or isinstance(scale, bool):
        raise HeadendProfileError(f"{where}: scale must be a number")
    if kind not in COLUMN_KINDS:
        raise HeadendProfileError(f"{where}: kind must be one of {sorted(COLUMN_KINDS)}")
    if (kind == "enum") != isinstance(enum, str):
        raise HeadendProfileError(f"{where}: an enum column names its enum map (and only it)")
    return HeadendColumn(oid, float(scale), kind, enum)


def _enums(raw: Any, where: str) -> dict[str, dict[int, str]]:
    if not isinstance(raw, dict):
        raise HeadendProfileError(f"{where}.enums must be a table")
    out: dict[str, dict[int, str]] = {}
    for name, values in raw.items():
        if not isinstance(values, dict):
            raise HeadendProfileError(f"{where}.enums.{name} must be a table")
        try:
            out[name] = {int(k): str(v) for k, v in values.items()}
        except ValueError:
            raise HeadendProfileError(f"{where}.enums.{name}: keys must be integers") from None
    return out


def build_headend_profile(name: str, raw: dict[str, Any]) -> HeadendProfile:
    """Validate one raw profile (built-in dict or TOML table)."""
    kind = raw.get("kind")
    if kind not in PROFILE_KINDS:
        raise HeadendProfileError(f"headend profile {name}: kind must be cmts, dslam or olt")
    tables_raw = raw.get("tables", {})
    if not isinstance(tables_raw, dict):
        raise HeadendProfileError(f"headend profile {name}: tables must be a table")
    # An empty spec (``field = []`` in TOML) drops a built-in column.
    tables = {
        t: {f: _column(s, f"{name}.tables.{t}.{f}") for f, s in cols.items() if s != []}
        for t, cols in tables_raw.items()
        if isinstance(cols, dict)
    }
    enums = {**_ENUMS, **_enums(raw.get("enums", {}), name)}
    for t, cols in tables.items():
        for f, col in cols.items():
            if col.enum is not None and col.enum not in enums:
                raise HeadendProfileError(f"{name}.tables.{t}.{f}: no enum map {col.enum!r}")
    return HeadendProfile(name, kind, tables, enums)


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if key == "base":
            continue
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def builtin_headend_profiles() -> dict[str, HeadendProfile]:
    return {name: build_headend_profile(name, raw) for name, raw in _RAW_PROFILES.items()}


def load_headend_profiles(path: str | Path | None = None) -> dict[str, HeadendProfile]:
    """Built-in profiles, plus/overridden by ``[headend_profiles.NAME]`` tables of a
    TOML file (the same file as the modem profiles may hold both)."""
    profiles = builtin_headend_profiles()
    if path is None:
        return profiles
    try:
        with open(path, "rb") as fh:
            doc = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise HeadendProfileError(f"cannot read headend profiles from {path}: {exc}") from None
    section = doc.get("headend_profiles", {})
    if not isinstance(section, dict):
        raise HeadendProfileError("[headend_profiles] must be a table")
    for name, raw in section.items():
        if not isinstance(raw, dict):
            raise HeadendProfileError(f"headend profile {name} must be a table")
        base_name = raw.get("base", name if name in _RAW_PROFILES else None)
        if base_name and base_name not in _RAW_PROFILES:
            raise HeadendProfileError(f"headend profile {name}: unknown base {base_name!r}")
        base = _RAW_PROFILES.get(base_name, {}) if base_name else {}
        merged = _merge(base, raw)
        merged.setdefault("kind", base.get("kind"))
        profiles[name] = build_headend_profile(name, merged)
    return profiles


def select_headend_profile(
    profiles: dict[str, HeadendProfile], kind: str, snmp_profile: str | None
) -> HeadendProfile | None:
    """``headend.snmp_profile`` when set, else the kind's built-in profile."""
    return profiles.get(snmp_profile) if snmp_profile else profiles.get(kind)
