"""Turn raw walked values into an ``SnmpReading`` according to a profile.

Pure functions: raw ``{field: Value}`` scalars and ``{table: {field: {index: Value}}}``
tables in, wire model out. A value of the wrong type, an exception value
(noSuchObject...) or a counter beyond the model's range becomes a missing field.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
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
    PreEqSummary,
    SnmpReading,
    UpstreamChannel,
)
from probes.pnm import pre_eq_summary
from probes.snmp.ber import OID, Value, compiled
from probes.snmp.profiles import Column, Profile

Raw = dict[str, dict[str, dict[OID, Value]]]
MAX_INTERFACES = 256
MAX_CHANNELS = 128
MAX_PRE_EQ = 64  # DocsisLine.pre_eq bound
# DocsEqualizerData is at most 260 octets (RFC 4546); longer values are still
# passed on (up to this) so the decoder can say what is wrong with them.
MAX_OCTETS = 1024


@functools.cache
def converter(column: Column) -> Callable[[Value | None], Any]:
    """Scale and check one raw value of ``column``: None when missing or not what
    the column expects. Made once per column (profiles are fixed), so the ~230
    values of a 32x8 DOCSIS poll skip the dispatch on the column's kind."""
    kind, scale = column.kind, column.scale
    if kind == "text":

        def text(value: Value | None) -> str | None:
            if not isinstance(value, bytes):  # also None and the exception values
                return None
            return value.decode("utf-8", errors="replace")[:1024]

        return text
    if kind == "octets":

        def octets(value: Value | None) -> bytes | None:
            if not isinstance(value, bytes) or len(value) > MAX_OCTETS:
                return None
            return bytes(value)

        return octets
    if kind == "counter":

        def counter(value: Value | None) -> int | None:
            if not isinstance(value, int) or isinstance(value, bool):
                return None
            return int(value) if 0 <= value <= COUNTER_MAX else None  # plain int, not Counter64

        return counter
    if kind == "int":

        def integer(value: Value | None) -> int | None:
            if not isinstance(value, int) or isinstance(value, bool):
                return None
            return int(value)

        return integer

    def scaled(value: Value | None) -> float | None:
        if not isinstance(value, int) or isinstance(value, bool):
            return None
        result = round(value * scale, 6)  # 84 * 0.01 -> 0.84, not 0.8400000000000001
        return result if -1e12 <= result <= 1e12 else None

    return scaled


# column identity -> (column, converter): ``converter``'s cache hashes the frozen
# Column (its whole OID) on every call, ~40 % of a ~170-calls-a-poll ``convert``.
# Holding the column keeps its id from being reused while its entry exists.
_CONVERTERS: dict[int, tuple[Column, Callable[[Value | None], Any]]] = {}


def convert(value: Value | None, column: Column) -> Any:
    """Scale and check one raw value; None when missing or not what the column expects."""
    hit = _CONVERTERS.get(id(column))
    if hit is None or hit[0] is not column:
        hit = _CONVERTERS[id(column)] = (column, converter(column))
    return hit[1](value)


# id of a profile's column dict -> (that dict, its (field, converter) pairs): a row
# or the scalars converted without ``convert``'s lookup per field.
_ROW_CONVERTERS: dict[int, tuple[dict[str, Column], list[tuple[str, Callable[[Any], Any]]]]] = {}


def _converters(cols: dict[str, Column]) -> list[tuple[str, Callable[[Any], Any]]]:
    hit = _ROW_CONVERTERS.get(id(cols))
    if hit is None or hit[0] is not cols or len(hit[1]) != len(cols):
        hit = _ROW_CONVERTERS[id(cols)] = (cols, [(f, converter(c)) for f, c in cols.items()])
    return hit[1]


_NO_TABLE: dict[str, dict[OID, Value]] = {}  # read-only defaults
_NO_COLUMN: dict[OID, Value] = {}


def _row(profile: Profile, raw: Raw, table: str, index: OID) -> dict[str, Any]:
    data = raw.get(table, _NO_TABLE)
    empty = _NO_COLUMN
    return {f: conv(data.get(f, empty).get(index)) for f, conv in _converters(
        profile.tables.get(table, {}))}


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


def _column(profile: Profile, raw: Raw, table: str, field: str) -> dict[OID, Any]:
    """One column's values that convert, by row index (a missing or unusable
    cell is absent). Column by column, not row dicts: a 32x8 modem has ~230
    values, and building a dict per row cost more than converting them."""
    column = profile.tables.get(table, {}).get(field)
    values = raw.get(table, {}).get(field)
    if column is None or not values:
        return {}
    return column_values(values, column)


# Column kinds the compiled loop converts (_ber_fast.convert_column's codes).
_FAST_KIND = {"counter": 0, "int": 1, "float": 2}
_fast_column = compiled.convert_column if compiled is not None else None


def column_values(values: dict[OID, Value], column: Column, level: bool = False) -> dict[OID, Any]:
    """``values`` converted for ``column``, without the cells that do not convert;
    ``level``: then _level (a float column's dB/dBmV levels). In C where the
    extension is built (_ber_fast.convert_column, tested against this loop)."""
    code = _FAST_KIND.get(column.kind)
    if _fast_column is not None and code is not None and (code == 2 or not level):
        return _fast_column(values, code, column.scale, level)
    return _py_column_values(values, column, level)


def all_convert(values: dict[OID, Value], rows: Iterable[OID], column: Column) -> bool:
    """Whether each of ``rows`` has a value in ``values`` that converts for ``column``."""
    code = _FAST_KIND.get(column.kind)
    if _fast_all is not None and code is not None:
        return _fast_all(values, rows, code, column.scale)
    conv = converter(column)
    get = values.get
    return all(conv(get(i)) is not None for i in rows)


_fast_all = compiled.all_convert if compiled is not None else None


def _py_column_values(
    values: dict[OID, Value], column: Column, level: bool = False
) -> dict[OID, Any]:
    conv = converter(column)
    out = {}
    for index, value in values.items():
        converted = conv(value)
        if level:
            converted = _level(converted)
        if converted is not None:
            out[index] = converted
    return out


def _levels(profile: Profile, raw: Raw, table: str, field: str) -> dict[OID, float]:
    """_level of each value of a column that converts and is a level."""
    column = profile.tables.get(table, {}).get(field)
    values = raw.get(table, {}).get(field)
    if column is None or not values:
        return {}
    return column_values(values, column, level=True)


def _preferred(profile: Profile, raw: Raw, table: str, field: str) -> dict[OID, Any]:
    """``field``, with ``field_ext`` (the Counter64 twin) wherever that has a value."""
    return {**_column(profile, raw, table, field), **_column(profile, raw, table, f"{field}_ext")}


def _docsis(profile: Profile, raw: Raw) -> DocsisLine:
    ds_idx = sorted(set(_indexes(raw, "downstream")) | set(_indexes(raw, "signal_quality")))
    frequency = _column(profile, raw, "downstream", "frequency_hz")
    power = _levels(profile, raw, "downstream", "power_dbmv")
    snr = _levels(profile, raw, "signal_quality", "snr_db")
    unerrored = _preferred(profile, raw, "signal_quality", "unerrored")
    corrected = _preferred(profile, raw, "signal_quality", "corrected")
    uncorrectable = _preferred(profile, raw, "signal_quality", "uncorrectable")
    downstream = [
        DownstreamChannel(
            index=index[-1],
            frequency_hz=frequency.get(index),
            power_dbmv=power.get(index),
            snr_db=snr.get(index),
            unerrored=unerrored.get(index),
            corrected=corrected.get(index),
            uncorrectable=uncorrectable.get(index),
        )
        for index in ds_idx[:MAX_CHANNELS]
    ]
    cm = _first_row(profile, raw, "cm_status")
    us_idx = sorted(set(_indexes(raw, "upstream")) | set(_indexes(raw, "us_tx_power")))
    single_tx = _level(cm.get("tx_power_dbmv"))
    us_frequency = _column(profile, raw, "upstream", "frequency_hz")
    us_power = _levels(profile, raw, "us_tx_power", "tx_power_dbmv")
    upstream = []
    for index in us_idx[:MAX_CHANNELS]:
        tx = us_power.get(index)
        if tx is None and len(us_idx) == 1:
            tx = single_tx  # docsIfCmStatusTxPower is the one channel's power
        upstream.append(
            UpstreamChannel(index=index[-1], frequency_hz=us_frequency.get(index), tx_power_dbmv=tx)
        )
    if not upstream and single_tx is not None:
        upstream.append(UpstreamChannel(index=0, tx_power_dbmv=single_tx))
    return DocsisLine(
        downstream=downstream,
        upstream=upstream,
        cm_status=cm.get("cm_status"),
        t3_timeouts=cm.get("t3_timeouts"),
        t4_timeouts=cm.get("t4_timeouts"),
        pre_eq=_pre_eq(profile, raw, us_idx, cm.get("eq_data")),
    )


def _pre_eq(
    profile: Profile, raw: Raw, us_idx: list[OID], cm_blob: bytes | None
) -> list[PreEqSummary] | None:
    """Each upstream channel's docsIf3CmStatusUsEqData, decoded; where a modem
    has none (DOCSIS 2.0), its docsIfCmStatusEqualizationData, tied to its one
    upstream channel when it has exactly one (else index 0). None: the modem
    published no equalizer data at all (older profiles, modems without it)."""
    widths = _column(profile, raw, "upstream", "width_hz")
    blobs = _column(profile, raw, "us_tx_power", "eq_data")
    if blobs:
        return [
            pre_eq_summary(index[-1], blob, source="us", width_hz=widths.get(index))
            for index, blob in sorted(blobs.items())[:MAX_PRE_EQ]
        ]
    if cm_blob is None:
        return None
    one = us_idx[0] if len(us_idx) == 1 else None
    index = one[-1] if one else 0
    return [pre_eq_summary(index, cm_blob, source="cm", width_hz=widths.get(one or ()))]


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
    sys_values = {f: conv(scalars.get(f)) for f, conv in _converters(profile.scalars)}
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
