"""Per-technology SNMP profiles: which MIB objects mean what. Data, not code.

A profile has ``scalars`` (exact instances fetched with one GET) and
``tables`` (columns walked with GETBULK; rows keyed by the index after the
column OID). Each entry is ``field -> (oid, scale, kind)``: the raw value is
multiplied by ``scale`` (TenthdBmV/TenthdB -> x0.1, TimeTicks -> x0.01 s,
bit/s -> x0.001 kbit/s) and checked by ``kind``:
``float`` (a level), ``counter`` (0..2**63-1, else missing), ``int``, ``text``,
``octets`` (an OCTET STRING kept as bytes, e.g. DocsEqualizerData).

How tables become a reading (probes/snmp/reading.py):
- ``interfaces`` -> ``SnmpReading.interfaces``; ifType decides LAN/WAN.
- DOCSIS ``downstream`` + ``signal_quality`` joined by ifIndex; ``upstream`` +
  ``us_tx_power`` joined by ifIndex; ``cm_status`` first row; the equalizer
  octets (``eq_data``) decoded by probes/pnm.py into ``DocsisLine.pre_eq``.
- every other table: its first row's fields fill the technology's line struct
  (DslLine / GponLine fields by name), so a vendor's OIDs need only TOML.

Sources: ../shared/THRESHOLDS.md (DOCS-IF-MIB RFC 4546, DOCS-IF3-MIB);
ADSL-LINE-MIB RFC 2662 (OIDs as compiled by nocproject/noc
cmibs/adsl_line_mib.py); IF-MIB RFC 2863; IANAifType-MIB; ENTITY-SENSOR-MIB
RFC 3433.

Override or extend from TOML (``load_profiles(path)``)::

    [profiles.acme-ont]
    technology = "gpon"
    base = "gpon"                       # start from a built-in profile
    [profiles.acme-ont.tables.optics]
    rx_power_dbm = ["1.3.6.1.4.1.9999.1.2.1.5", 0.01, "float"]
    tx_power_dbm = ["1.3.6.1.4.1.9999.1.2.1.6", 0.01, "float"]
"""

from __future__ import annotations

import copy
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from probes.snmp.ber import OID, BerError, parse_oid

Kind = Literal["float", "counter", "int", "text", "octets"]
KINDS: frozenset[str] = frozenset({"float", "counter", "int", "text", "octets"})


@dataclass(frozen=True, slots=True)
class Column:
    oid: OID
    scale: float = 1.0
    kind: Kind = "float"


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    technology: str
    scalars: dict[str, Column]
    tables: dict[str, dict[str, Column]]
    lan_if_types: frozenset[int] = frozenset()
    wan_if_types: frozenset[int] = frozenset()
    extra: dict[str, Any] = field(default_factory=dict)


class ProfileError(ValueError):
    """A profile definition (built-in or TOML) that does not make sense."""


# --- the data -------------------------------------------------------------------------

_SYSTEM = {
    "sys_descr": ("1.3.6.1.2.1.1.1.0", 1, "text"),  # SNMPv2-MIB sysDescr
    "sys_uptime_s": ("1.3.6.1.2.1.1.3.0", 0.01, "float"),  # sysUpTime, TimeTicks (1/100 s)
}

# IF-MIB (RFC 2863): ifTable 1.3.6.1.2.1.2.2.1, ifXTable 1.3.6.1.2.1.31.1.1.1.
_INTERFACES = {
    "name": ("1.3.6.1.2.1.2.2.1.2", 1, "text"),  # ifDescr
    "if_type": ("1.3.6.1.2.1.2.2.1.3", 1, "int"),  # ifType (IANAifType)
    "oper_status": ("1.3.6.1.2.1.2.2.1.8", 1, "int"),  # ifOperStatus, up(1)
    "in_errors": ("1.3.6.1.2.1.2.2.1.14", 1, "counter"),  # ifInErrors
    "out_errors": ("1.3.6.1.2.1.2.2.1.20", 1, "counter"),  # ifOutErrors
    "in_octets": ("1.3.6.1.2.1.31.1.1.1.6", 1, "counter"),  # ifHCInOctets (Counter64)
    "out_octets": ("1.3.6.1.2.1.31.1.1.1.10", 1, "counter"),  # ifHCOutOctets
    "in_octets_32": ("1.3.6.1.2.1.2.2.1.10", 1, "counter"),  # ifInOctets, v1 fallback
    "out_octets_32": ("1.3.6.1.2.1.2.2.1.16", 1, "counter"),  # ifOutOctets
}

# IANAifType: ethernetCsmacd(6), fastEther(62), fastEtherFX(69), gigabitEthernet(117).
_LAN_TYPES = [6, 62, 69, 117]

_RAW_PROFILES: dict[str, dict[str, Any]] = {
    "docsis": {
        "technology": "docsis",
        # docsCableMaclayer(127); channels are 128 (downstream) / 129 (upstream).
        "wan_if_types": [127],
        "tables": {
            # docsIfDownstreamChannelTable 1.3.6.1.2.1.10.127.1.1.1.1 (THRESHOLDS.md)
            "downstream": {
                "frequency_hz": ("1.3.6.1.2.1.10.127.1.1.1.1.2", 1, "counter"),
                "power_dbmv": ("1.3.6.1.2.1.10.127.1.1.1.1.6", 0.1, "float"),  # TenthdBmV
            },
            # docsIfSignalQualityTable 1.3.6.1.2.1.10.127.1.1.4.1 (THRESHOLDS.md)
            "signal_quality": {
                "unerrored": ("1.3.6.1.2.1.10.127.1.1.4.1.2", 1, "counter"),
                "corrected": ("1.3.6.1.2.1.10.127.1.1.4.1.3", 1, "counter"),
                "uncorrectable": ("1.3.6.1.2.1.10.127.1.1.4.1.4", 1, "counter"),
                "snr_db": ("1.3.6.1.2.1.10.127.1.1.4.1.5", 0.1, "float"),  # TenthdB
                # docsIfSigQExt* Counter64 (RFC 4546), preferred when present
                "unerrored_ext": ("1.3.6.1.2.1.10.127.1.1.4.1.8", 1, "counter"),
                "corrected_ext": ("1.3.6.1.2.1.10.127.1.1.4.1.9", 1, "counter"),
                "uncorrectable_ext": ("1.3.6.1.2.1.10.127.1.1.4.1.10", 1, "counter"),
            },
            # docsIfUpstreamChannelTable 1.3.6.1.2.1.10.127.1.1.2.1 (THRESHOLDS.md)
            "upstream": {
                "frequency_hz": ("1.3.6.1.2.1.10.127.1.1.2.1.2", 1, "counter"),
                # docsIfUpChannelWidth (Hz): the symbol rate the pre-eq taps are spaced by
                "width_hz": ("1.3.6.1.2.1.10.127.1.1.2.1.3", 1, "int"),
            },
            # docsIf3CmStatusUsTable (DOCS-IF3-MIB), per upstream channel ifIndex:
            # docsIf3CmStatusUsTxPower (TenthdBmV) and docsIf3CmStatusUsEqData
            # (DocsEqualizerData, the channel's pre-equalizer; probes/pnm.py)
            "us_tx_power": {
                "tx_power_dbmv": ("1.3.6.1.4.1.4491.2.1.20.1.2.1.1", 0.1, "float"),
                "eq_data": ("1.3.6.1.4.1.4491.2.1.20.1.2.1.6", 1, "octets"),
            },
            # docsIfCmStatusTable 1.3.6.1.2.1.10.127.1.2.2.1, one row (CM MAC ifIndex)
            "cm_status": {
                "cm_status": ("1.3.6.1.2.1.10.127.1.2.2.1.1", 1, "int"),
                "tx_power_dbmv": ("1.3.6.1.2.1.10.127.1.2.2.1.3", 0.1, "float"),
                "t3_timeouts": ("1.3.6.1.2.1.10.127.1.2.2.1.12", 1, "counter"),
                "t4_timeouts": ("1.3.6.1.2.1.10.127.1.2.2.1.13", 1, "counter"),
                # docsIfCmStatusEqualizationData: the DOCSIS 2.0 modem's one upstream
                # pre-equalizer (read where no per-channel docsIf3CmStatusUsEqData is)
                "eq_data": ("1.3.6.1.2.1.10.127.1.2.2.1.17", 1, "octets"),
            },
        },
    },
    "dsl": {
        "technology": "dsl",
        # adsl(94), vdsl(97), adsl2(230), adsl2plus(238), vdsl2(251)
        "wan_if_types": [94, 97, 230, 238, 251],
        "tables": {
            # adslAturPhysTable 1.3.6.1.2.1.10.94.1.1.3.1: as seen by the ATU-R = downstream
            "atur_phys": {
                "snr_margin_down_db": ("1.3.6.1.2.1.10.94.1.1.3.1.4", 0.1, "float"),
                "attenuation_down_db": ("1.3.6.1.2.1.10.94.1.1.3.1.5", 0.1, "float"),
            },
            # adslAtucPhysTable 1.3.6.1.2.1.10.94.1.1.2.1: as seen by the ATU-C = upstream
            "atuc_phys": {
                "snr_margin_up_db": ("1.3.6.1.2.1.10.94.1.1.2.1.4", 0.1, "float"),
                "attenuation_up_db": ("1.3.6.1.2.1.10.94.1.1.2.1.5", 0.1, "float"),
            },
            # adslAturChanCurrTxRate / adslAtucChanCurrTxRate (bit/s). Downstream is
            # the ATU-R channel row as LibreNMS graphs it (port adsl_speed graph);
            # RFC 2662's wording is ambiguous and vendors differ: override in TOML.
            "atur_chan": {
                "sync_down_kbps": ("1.3.6.1.2.1.10.94.1.1.5.1.2", 0.001, "float"),
            },
            "atuc_chan": {
                "sync_up_kbps": ("1.3.6.1.2.1.10.94.1.1.4.1.2", 0.001, "float"),
            },
            # adslAturChanPerfDataTable 1.3.6.1.2.1.10.94.1.1.11.1: blocks received by
            # the ATU-R; uncorrectable blocks are the CRC errors, corrected ones FEC.
            "atur_chan_perf": {
                "fec_errors": ("1.3.6.1.2.1.10.94.1.1.11.1.3", 1, "counter"),
                "crc_errors": ("1.3.6.1.2.1.10.94.1.1.11.1.4", 1, "counter"),
            },
        },
    },
    "gpon": {
        "technology": "gpon",
        # gpon(250); IANAifType also has xgpon, but ONTs mostly report 250.
        "wan_if_types": [250],
        # No standard SNMP MIB exists for ONT optics (ONTs are managed by OMCI,
        # ITU-T G.988). Vendor-neutral choice: ENTITY-SENSOR-MIB (RFC 3433)
        # sensors of type dBm(14), value x 10**-precision; the sensor's
        # entPhysicalDescr containing "rx"/"receive" or "tx"/"transmit" says
        # which level it is. Vendors without it: add a table in TOML whose
        # fields are rx_power_dbm / tx_power_dbm.
        "tables": {
            "dbm_sensors": {
                "sensor_type": ("1.3.6.1.2.1.99.1.1.1.1", 1, "int"),  # entPhySensorType
                "precision": ("1.3.6.1.2.1.99.1.1.1.3", 1, "int"),  # entPhySensorPrecision
                "value": ("1.3.6.1.2.1.99.1.1.1.4", 1, "int"),  # entPhySensorValue
                "descr": ("1.3.6.1.2.1.47.1.1.1.1.2", 1, "text"),  # entPhysicalDescr
            },
        },
    },
    "ethernet": {"technology": "ethernet", "wan_if_types": [], "tables": {}},
}


def _column(spec: Any, where: str) -> Column:
    if isinstance(spec, Column):
        return spec
    if not isinstance(spec, list | tuple) or not 1 <= len(spec) <= 3:
        raise ProfileError(f"{where}: expected [oid, scale, kind], got {spec!r}")
    oid_text = spec[0]
    scale = spec[1] if len(spec) > 1 else 1.0
    kind = spec[2] if len(spec) > 2 else "float"
    if not isinstance(oid_text, str):
        raise ProfileError(f"{where}: OID must be a string")
    try:
        oid = parse_oid(oid_text)
    except BerError as exc:
        raise ProfileError(f"{where}: {exc}") from None
    if not isinstance(scale, int | float) or isinstance(scale, bool):
        raise ProfileError(f"{where}: scale must be a number")
    if kind not in KINDS:
        raise ProfileError(f"{where}: kind must be one of {sorted(KINDS)}")
    return Column(oid, float(scale), kind)


def build_profile(name: str, raw: dict[str, Any]) -> Profile:
    """Validate one raw profile (built-in dict or TOML table) into a Profile."""
    technology = raw.get("technology")
    if technology not in ("docsis", "dsl", "gpon", "ethernet"):
        raise ProfileError(f"profile {name}: technology must be docsis, dsl, gpon or ethernet")
    scalars_raw = {**_SYSTEM, **raw.get("scalars", {})}
    tables_raw = {"interfaces": _INTERFACES, **raw.get("tables", {})}
    scalars = {f: _column(s, f"{name}.scalars.{f}") for f, s in scalars_raw.items()}
    tables = {
        t: {f: _column(s, f"{name}.tables.{t}.{f}") for f, s in cols.items()}
        for t, cols in tables_raw.items()
        if isinstance(cols, dict)
    }
    lan = raw.get("lan_if_types", _LAN_TYPES)
    wan = raw.get("wan_if_types", [])
    if not all(isinstance(x, int) for x in [*lan, *wan]):
        raise ProfileError(f"profile {name}: if types must be integers")
    return Profile(name, technology, scalars, tables, frozenset(lan), frozenset(wan))


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


def builtin_profiles() -> dict[str, Profile]:
    return {name: build_profile(name, raw) for name, raw in _RAW_PROFILES.items()}


def load_profiles(path: str | Path | None = None) -> dict[str, Profile]:
    """Built-in profiles, plus/overridden by ``[profiles.NAME]`` tables in a TOML file.

    A TOML profile named like a built-in one is merged into it (so one column can
    be changed); ``base = "docsis"`` starts a new profile from a built-in one.
    """
    profiles = builtin_profiles()
    if path is None:
        return profiles
    try:
        with open(path, "rb") as fh:
            doc = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ProfileError(f"cannot read profiles from {path}: {exc}") from None
    section = doc.get("profiles", {})
    if not isinstance(section, dict):
        raise ProfileError("[profiles] must be a table")
    for name, raw in section.items():
        if not isinstance(raw, dict):
            raise ProfileError(f"profile {name} must be a table")
        base_name = raw.get("base", name if name in _RAW_PROFILES else None)
        base = _RAW_PROFILES.get(base_name, {}) if base_name else {}
        if base_name and base_name not in _RAW_PROFILES:
            raise ProfileError(f"profile {name}: unknown base {base_name!r}")
        profiles[name] = build_profile(name, _merge(base, raw))
    return profiles


def select_profile(
    profiles: dict[str, Profile], technology: str, snmp_profile: str | None
) -> Profile | None:
    """``target.snmp_profile`` when set, else the technology's built-in profile."""
    if snmp_profile:
        return profiles.get(snmp_profile)
    return profiles.get(technology)
