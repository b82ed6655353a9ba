"""Turn raw walked values into an ``SnmpReading`` according to a profile.

Pure functions: raw ``{field: Value}`` scalars and ``{table: {field: {index: Value}}}``
tables in, wire model out. A value of the wrong type, an exception value
(noSuchObject...) or a counter beyond the model's range becomes a missing field.
"""

from __future__ import annotations

from typing import Any

import msgspec

from probes.model import (
    COUNTER_MAX,
    DocsisLine,
    DownstreamChannel,
    DslLine,
    GponLine,
    InterfaceStatus,
    Line,
    SnmpReading,
    UpstreamChannel,
)
from probes.snmp.ber import OID, Sentinel, Value
from probes.snmp.profiles import Column, Profile

Raw = dict[str, dict[str, dict[OID, Value]]]
MAX_INTERFACES = 256
MAX_CHANNELS = 128


def convert(value: Value | None, column: Column) -> Any:
    """Scale and check one raw value; None when missing or not what the column expects."""
    if value is None or isinstance(value, Sentinel):
        return None
    kind = column.kind
    if kind == "text":
        if not isinstance(value, bytes):
            return None
        return value.decode("utf-8", errors="replace")[:1024]
    if not isinstance(value, int) or isinstance(value, bool):
        return None
    if kind == "counter":
        return int(value) if 0 <= value <= COUNTER_MAX else None  # plain int, not Counter64
    if kind == "int":
        return int(value)
    scaled = round(value * column.scale, 6)  # 84 * 0.01 -> 0.84, not 0.8400000000000001
    return scaled if -1e12 <= scaled <= 1e12 else None


def _row(profile: Profile, raw: Raw, table: str, index: OID) -> dict[str, Any]:
    cols = profile.tables.get(table, {})
    data = raw.get(table, {})
    return {f: convert(data.get(f, {}).get(index), c) for f, c in cols.items()}


def _indexes(raw: Raw, table: str) -> list[OID]:
    seen: set[OID] = set()
    for column in raw.get(table, {}).values():
        seen.update(column)
    return sorted(seen)


def _first_row(profile: Profile, raw: Raw, table: str) -> dict[str, Any]:
    indexes = _indexes(raw, table)
    return _row(profile, raw, table, indexes[0]) if indexes else {}


def _level(x: Any) -> float | None:
    return round(float(x), 3) if isinstance(x, int | float) and -1000 <= x <= 1000 else None


def _nonneg(x: Any) -> float | None:
    return float(x) if isinstance(x, int | float) and 0 <= x <= 1e12 else None


def _interfaces(profile: Profile, raw: Raw) -> list[InterfaceStatus]:
    """LAN and WAN interfaces only (by ifType): a DOCSIS modem's dozens of channel
    interfaces carry nothing the verdict or the console uses."""
    out = []
    for index in _indexes(raw, "interfaces")[:MAX_INTERFACES]:
        if len(index) != 1:
            continue
        row = _row(profile, raw, "interfaces", index)
        if_type = row.get("if_type")
        role = (
            "wan"
            if if_type in profile.wan_if_types
            else "lan"
            if if_type in profile.lan_if_types
            else "other"
        )
        if role == "other":
            continue  # channel/virtual interfaces: nothing downstream reads them
        oper = row.get("oper_status")
        in_oct = row.get("in_octets")
        out_oct = row.get("out_octets")
        out.append(
            InterfaceStatus(
                index=index[0],
                name=(row.get("name") or "")[:256],
                role=role,
                oper_up=None if oper is None else oper == 1,
                in_octets=in_oct if in_oct is not None else row.get("in_octets_32"),
                out_octets=out_oct if out_oct is not None else row.get("out_octets_32"),
                in_errors=row.get("in_errors"),
                out_errors=row.get("out_errors"),
            )
        )
    return out


def _docsis(profile: Profile, raw: Raw) -> DocsisLine:
    downstream = []
    ds_idx = sorted(set(_indexes(raw, "downstream")) | set(_indexes(raw, "signal_quality")))
    for index in ds_idx[:MAX_CHANNELS]:
        ds = _row(profile, raw, "downstream", index)
        sq = _row(profile, raw, "signal_quality", index)

        def pick(name: str, sq: dict[str, Any] = sq) -> Any:
            ext = sq.get(f"{name}_ext")
            return ext if ext is not None else sq.get(name)

        downstream.append(
            DownstreamChannel(
                index=index[-1],
                frequency_hz=ds.get("frequency_hz"),
                power_dbmv=_level(ds.get("power_dbmv")),
                snr_db=_level(sq.get("snr_db")),
                unerrored=pick("unerrored"),
                corrected=pick("corrected"),
                uncorrectable=pick("uncorrectable"),
            )
        )
    cm = _first_row(profile, raw, "cm_status")
    us_idx = sorted(set(_indexes(raw, "upstream")) | set(_indexes(raw, "us_tx_power")))
    single_tx = _level(cm.get("tx_power_dbmv"))
    upstream = []
    for index in us_idx[:MAX_CHANNELS]:
        us = _row(profile, raw, "upstream", index)
        tx = _level(_row(profile, raw, "us_tx_power", index).get("tx_power_dbmv"))
        if tx is None and len(us_idx) == 1:
            tx = single_tx  # docsIfCmStatusTxPower is the one channel's power
        upstream.append(
            UpstreamChannel(index=index[-1], frequency_hz=us.get("frequency_hz"), tx_power_dbmv=tx)
        )
    if not upstream and single_tx is not None:
        upstream.append(UpstreamChannel(index=0, tx_power_dbmv=single_tx))
    return DocsisLine(
        downstream=downstream,
        upstream=upstream,
        cm_status=cm.get("cm_status"),
        t3_timeouts=cm.get("t3_timeouts"),
        t4_timeouts=cm.get("t4_timeouts"),
    )


_LINE_TYPES: dict[str, type[msgspec.Struct]] = {"dsl": DslLine, "gpon": GponLine}
_RESERVED = {"interfaces", "downstream", "signal_quality", "upstream", "us_tx_power", "cm_status"}


def _sensor_levels(profile: Profile, raw: Raw) -> dict[str, Any]:
    """ENTITY-SENSOR-MIB dBm(14) sensors named rx/tx (see the gpon profile)."""
    out: dict[str, Any] = {}
    for index in _indexes(raw, "dbm_sensors"):
        row = _row(profile, raw, "dbm_sensors", index)
        value, precision = row.get("value"), row.get("precision") or 0
        if row.get("sensor_type") != 14 or value is None or not -9 <= precision <= 9:
            continue
        descr = (row.get("descr") or "").lower()
        key = (
            "rx_power_dbm"
            if "rx" in descr or "receive" in descr
            else "tx_power_dbm"
            if "tx" in descr or "transmit" in descr
            else None
        )
        if key and key not in out:
            out[key] = value / 10**precision
    return out


def _generic_line(technology: str, profile: Profile, raw: Raw) -> Line | None:
    line_type = _LINE_TYPES[technology]
    fields: dict[str, Any] = {}
    for table in profile.tables:
        if table in _RESERVED or table == "dbm_sensors":
            continue
        for name, value in _first_row(profile, raw, table).items():
            if value is not None and fields.get(name) is None:
                fields[name] = value
    if technology == "gpon":
        for name, value in _sensor_levels(profile, raw).items():
            fields.setdefault(name, value)
    known = set(line_type.__struct_fields__)
    clean: dict[str, Any] = {}
    for name, value in fields.items():
        if name not in known:
            continue
        if name.endswith(("_db", "_dbm")):
            value = _level(value)
        elif name.endswith("_kbps"):
            value = _nonneg(value)
        clean[name] = value
    return line_type(**clean)  # type: ignore[return-value]


# field -> the preferred field it stands in for (read only where that one is missing)
FALLBACKS: dict[str, dict[str, str]] = {
    "interfaces": {"in_octets_32": "in_octets", "out_octets_32": "out_octets"},
    "signal_quality": {
        "unerrored": "unerrored_ext",
        "corrected": "corrected_ext",
        "uncorrectable": "uncorrectable_ext",
    },
}


def table_use(profile: Profile) -> tuple[list[str], list[str]]:
    """(tables whose first row is all build_reading reads, tables it reads every row of),
    besides ``interfaces``; tables it never reads are in neither."""
    tables = [t for t in profile.tables if t != "interfaces"]
    if profile.technology == "docsis":
        first = [t for t in tables if t == "cm_status"]
        every = [t for t in tables if t in _RESERVED and t != "cm_status"]
    elif profile.technology in _LINE_TYPES:
        first = [t for t in tables if t not in _RESERVED and t != "dbm_sensors"]
        every = [t for t in tables if t == "dbm_sensors" and profile.technology == "gpon"]
    else:
        first, every = [], []
    return first, every


def interface_role(profile: Profile, if_type: Any) -> str:
    if if_type in profile.wan_if_types:
        return "wan"
    return "lan" if if_type in profile.lan_if_types else "other"


def build_reading(profile: Profile, scalars: dict[str, Value], raw: Raw) -> SnmpReading:
    sys_values = {f: convert(scalars.get(f), c) for f, c in profile.scalars.items()}
    line: Line | None = None
    if profile.technology == "docsis":
        line = _docsis(profile, raw)
    elif profile.technology in _LINE_TYPES:
        line = _generic_line(profile.technology, profile, raw)
    return SnmpReading(
        sys_uptime_s=_nonneg(sys_values.get("sys_uptime_s")),
        sys_descr=sys_values.get("sys_descr"),
        interfaces=_interfaces(profile, raw),
        line=line,
    )
