"""Turn a headend's walked tables into a ``HeadendReading``. Pure functions.

Input: ``{table: {field: {index: Value}}}`` as walked (probes/snmp/headend.py),
the interface names/states fetched for the indexes that need them, and the
inventory lines to match rows against. Every cell that cannot go into the
model is counted by kind in ``HeadendProblems`` (and the rest of its row is
kept); a row without a usable key (MAC, port, ONT id) is dropped and counted.
Columns are converted one at a time (no dict per row): a 2,000-modem CMTS is
~40,000 cells.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any, NamedTuple

from probes.model import (
    COUNTER_MAX,
    EQ_DATA_MAX,
    MAX_HEADEND_ROWS,
    CmtsModem,
    CmtsModemUpstream,
    DslPort,
    HeadendProblems,
    HeadendReading,
    OntOptics,
    UpstreamQuality,
)
from probes.snmp.ber import OID, Value
from probes.snmp.headend_profiles import HeadendColumn, HeadendProfile

Raw = dict[str, dict[str, dict[OID, Value]]]
# ifIndex -> (ifName or ifDescr, ifOperStatus)
IfInfo = dict[int, tuple[str | None, int | None]]

# Integer32/Unsigned32 values devices use for "no value" (VDSL2-LINE-MIB's
# 2147483646/2147483647, Huawei's 2147483647 for a dark ONT): missing, not garbage.
_NO_VALUE = frozenset({2147483647, 2147483646, -2147483648, 4294967295})
_LEVEL = (-1000.0, 1000.0)  # the model's Level bounds (dB, dBm, dBmV)
_RATE = (0.0, 1e12)  # NonNeg (kbit/s)
_INDEX_MAX = 2**32 - 1
_IF_OPER = {
    1: "up", 2: "down", 3: "testing", 4: "unknown", 5: "dormant", 6: "notPresent",
    7: "lowerLayerDown",
}
_SIDE_OF_BAND = {1: "up", 2: "down"}  # Xdsl2Band upstream(1) / downstream(2)
# Xdsl2Unit: xtuc(1) is the DSLAM end, receiving upstream; xtur(2) the modem, downstream
_SIDE_OF_UNIT = {1: "up", 2: "down"}
_COUNTERS = ("unerrored", "corrected", "uncorrectable")


class LineIndex(NamedTuple):
    """The inventory lines one headend serves, by the keys its rows carry."""

    macs: Mapping[str, str]  # normalised MAC -> account
    ports: Mapping[str, str]  # lower-case port name / ifIndex / ONT id / serial -> account


class Context:
    """One build: the profile, the problem tally and the line index."""

    def __init__(self, profile: HeadendProfile, raw: Raw, lines: LineIndex | None) -> None:
        self.profile = profile
        self.raw = raw
        self.lines = lines
        self.problems: Counter[str] = Counter()
        self._columns: dict[tuple[str, str], dict[OID, Any]] = {}

    def column(self, table: str, field: str) -> dict[OID, Any]:
        """One column's usable values by row index; problems counted (once)."""
        key = (table, field)
        done = self._columns.get(key)
        if done is not None:
            return done
        col = self.profile.tables.get(table, {}).get(field)
        values = self.raw.get(table, {}).get(field)
        if col is None or not values:
            converted: dict[OID, Any] = {}
        else:
            converted = _convert(values, col, field, self.profile.enums, self.problems)
        self._columns[key] = converted
        return converted

    def preferred(self, table: str, field: str) -> dict[OID, Any]:
        """``field_ext`` (Counter64) where present, else ``field`` (Counter32)."""
        return {**self.column(table, field), **self.column(table, f"{field}_ext")}

    def indexes(self, table: str) -> set[OID]:
        seen: set[OID] = set()
        for values in self.raw.get(table, {}).values():
            seen.update(values)
        return seen

    def match(self, mac: str | None, *keys: str | None) -> str | None:
        lines = self.lines
        if lines is None:
            return None
        account = lines.macs.get(mac) if mac else None
        if account is None:
            for key in keys:
                if key:
                    account = lines.ports.get(key.lower())
                    if account is not None:
                        break
        if account is None:
            self.problems["unmatched"] += 1
        return account


def _bounds(field: str) -> tuple[float, float]:
    return _RATE if field.endswith("_kbps") else _LEVEL


def _convert(
    values: dict[OID, Value], col: HeadendColumn, field: str,
    enums: Mapping[str, Mapping[int, str]], problems: Counter[str],
) -> dict[OID, Any]:
    out: dict[OID, Any] = {}
    kind = col.kind
    wrong = bad = 0
    if kind == "float":
        scale = col.scale
        lo, hi = _bounds(field)
        for index, v in values.items():
            if not isinstance(v, int) or isinstance(v, bool):
                wrong += 1
            elif v in _NO_VALUE:
                continue
            else:
                x = round(v * scale, 6)
                if lo <= x <= hi:
                    out[index] = x
                else:
                    bad += 1
    elif kind == "counter":
        for index, v in values.items():
            if not isinstance(v, int) or isinstance(v, bool):
                wrong += 1
            elif 0 <= v <= COUNTER_MAX:
                out[index] = int(v)
            else:
                bad += 1
    elif kind == "int":
        for index, v in values.items():
            if not isinstance(v, int) or isinstance(v, bool):
                wrong += 1
            elif 0 <= v <= _INDEX_MAX:
                out[index] = int(v)
            else:
                bad += 1
    elif kind == "enum":
        names = enums.get(col.enum or "", {})
        for index, v in values.items():
            if not isinstance(v, int) or isinstance(v, bool):
                wrong += 1
            else:
                name = names.get(int(v))
                if name is None:
                    bad += 1  # a value the MIB does not define
                else:
                    out[index] = name
    elif kind == "octets":
        for index, v in values.items():
            if not isinstance(v, bytes):
                wrong += 1
            elif len(v) > EQ_DATA_MAX:
                problems["oversize"] += 1
            elif v:
                out[index] = bytes(v)
    elif kind == "mac":
        for index, v in values.items():  # key column: the builder counts bad ones per row
            if isinstance(v, bytes) and len(v) == 6:
                out[index] = v.hex(":")
    elif kind == "serial":
        for index, v in values.items():
            if not isinstance(v, bytes):
                wrong += 1
            elif v:
                out[index] = _serial(v)
    else:  # text
        for index, v in values.items():
            if not isinstance(v, bytes):
                wrong += 1
            else:
                out[index] = v.decode("utf-8", errors="replace")[:256]
    if wrong:
        problems["wrong_type"] += wrong
    if bad:
        problems["out_of_range"] += bad
    return out


def _serial(raw: bytes) -> str:
    """A GPON serial: 4 vendor letters + 4 octets shown as hex (HWTC1A2B3C4D), the
    way OLT consoles print it; printable text as it is; anything else as hex."""
    if len(raw) == 8 and raw[:4].isalpha() and raw[:4].isascii():
        return raw[:4].decode("ascii").upper() + raw[4:].hex().upper()
    if raw.isascii() and all(32 < b < 127 for b in raw):
        return raw.decode("ascii")[:64].upper()
    return raw.hex().upper()[:64]


def _keyed_macs(ctx: Context, table: str) -> dict[OID, str]:
    """Row index -> MAC of a table's MAC column; rows without a usable one (or a
    MAC already seen in this table) are counted and left out."""
    good = ctx.column(table, "mac")
    out: dict[OID, str] = {}
    seen: set[str] = set()
    for index in sorted(good):
        mac = good[index]
        if mac in seen:
            ctx.problems["duplicate_key"] += 1
            continue
        seen.add(mac)
        out[index] = mac
    # rows whose MAC cell is not 6 octets, or that have no MAC cell at all
    ctx.problems["bad_key"] += len(ctx.indexes(table) - good.keys())
    return out


# --- CMTS ----------------------------------------------------------------------------


def _upstreams(ctx: Context, ifinfo: IfInfo) -> list[UpstreamQuality]:
    table = "upstream_quality"
    snr = ctx.column(table, "snr_db")
    counters = {c: ctx.preferred(table, c) for c in _COUNTERS}
    out = []
    for index in sorted(ctx.indexes(table))[:4096]:
        if len(index) != 1 or not 0 <= index[0] <= _INDEX_MAX:
            ctx.problems["bad_key"] += 1
            continue
        name, oper = ifinfo.get(index[0], (None, None))
        out.append(UpstreamQuality(
            index=index[0], name=name, oper_up=None if oper is None else oper == 1,
            snr_db=snr.get(index), unerrored=counters["unerrored"].get(index),
            corrected=counters["corrected"].get(index),
            uncorrectable=counters["uncorrectable"].get(index),
        ))
    return out


def _cmts_modems(ctx: Context) -> list[CmtsModem]:
    cm, reg, us = "cm_status", "cm_reg_status", "cm_us_status"
    by_row = _keyed_macs(ctx, cm)
    reg_mac = _keyed_macs(ctx, reg)
    status = ctx.column(cm, "status")
    ds = ctx.column(cm, "ds_channel")
    usc = ctx.column(cm, "us_channel")
    rx = ctx.column(cm, "us_rx_power_dbmv")
    snr = ctx.column(cm, "us_snr_db")
    eq = ctx.column(cm, "equalization")
    counters = {c: ctx.preferred(cm, c) for c in _COUNTERS}
    reg_status = ctx.column(reg, "reg_status")
    reg_by_mac = {mac: reg_status.get(index) for index, mac in reg_mac.items()}

    # docsIf3CmtsCmUsStatusTable rows (regStatusId, channel) grouped per modem MAC.
    upstream: dict[str, list[CmtsModemUpstream]] = {}
    us_cols = [(f, ctx.column(us, f)) for f in ctx.profile.tables.get(us, {})]
    us_cols = [(f, c) for f, c in us_cols if c]
    for index in sorted(ctx.indexes(us)):
        mac = reg_mac.get(index[:1]) if len(index) == 2 else None
        if mac is None or not 0 <= index[1] <= _INDEX_MAX:
            ctx.problems["bad_key"] += 1
            continue
        rows = upstream.get(mac)
        if rows is None:
            rows = upstream[mac] = []
        elif len(rows) >= 64:
            continue
        fields = {}
        for f, c in us_cols:
            value = c.get(index)
            if value is not None:
                fields[f] = value
        rows.append(CmtsModemUpstream(index=index[1], **fields))

    modems = []
    macs_done: set[str] = set()
    for index in sorted(by_row):
        mac = by_row[index]
        macs_done.add(mac)
        modems.append(CmtsModem(
            mac=mac, account=ctx.match(mac), status=status.get(index),
            reg_status=reg_by_mac.get(mac), ds_channel=ds.get(index), us_channel=usc.get(index),
            us_rx_power_dbmv=rx.get(index), us_snr_db=snr.get(index),
            unerrored=counters["unerrored"].get(index), corrected=counters["corrected"].get(index),
            uncorrectable=counters["uncorrectable"].get(index), equalization=eq.get(index),
            upstream=upstream.get(mac, []),
        ))
    # Modems only the DOCS-IF3 tables know (a CMTS without docsIfCmtsCmStatusTable).
    for mac, value in reg_by_mac.items():
        if mac not in macs_done:
            modems.append(CmtsModem(
                mac=mac, account=ctx.match(mac), reg_status=value,
                upstream=upstream.get(mac, []),
            ))
    return modems


# --- DSLAM ---------------------------------------------------------------------------


def _dsl_ports(ctx: Context, ifinfo: IfInfo) -> list[DslPort]:
    lines: set[int] = set()
    for table in ("adsl_atuc_phys", "adsl_atur_phys", "vdsl2_line"):
        for index in ctx.indexes(table):
            if len(index) == 1:
                lines.add(index[0])
            else:
                ctx.problems["bad_key"] += 1
    for index in ctx.indexes("vdsl2_band"):
        if len(index) == 2:
            lines.add(index[0])
    # channel ifIndex -> its line (ifStackTable: the channel is stacked on the line)
    line_of: dict[int, int] = {i: i for i in lines}
    for higher_lower in ctx.indexes("if_stack"):
        if len(higher_lower) == 2 and higher_lower[1] in lines:
            line_of.setdefault(higher_lower[0], higher_lower[1])

    values: dict[int, dict[str, Any]] = {i: {} for i in lines}

    def put(line: int | None, field: str, value: Any) -> None:
        if line is not None and value is not None:
            values[line].setdefault(field, value)

    # VDSL2 first: a line the DSLAM reports in both MIBs keeps its VDSL2 values.
    band_fields = {f: ctx.column("vdsl2_band", f) for f in ("snr_margin_db", "attenuation_db")}
    for index in ctx.indexes("vdsl2_band"):
        if len(index) != 2:
            ctx.problems["bad_key"] += 1
            continue
        side = _SIDE_OF_BAND.get(index[1])
        if side is not None:
            put(index[0], f"snr_margin_{side}_db", band_fields["snr_margin_db"].get(index))
            put(index[0], f"attenuation_{side}_db", band_fields["attenuation_db"].get(index))
    for index, value in ctx.column("vdsl2_chan", "rate_kbps").items():
        side = _SIDE_OF_UNIT.get(index[1]) if len(index) == 2 else None
        if side is not None:
            put(line_of.get(index[0]), f"sync_{side}_kbps", value)
    for table in ("vdsl2_line", "adsl_atuc_phys", "adsl_atur_phys"):
        for field in ctx.profile.tables.get(table, {}):
            for index, value in ctx.column(table, field).items():
                if len(index) == 1 and index[0] in values:
                    put(index[0], field, value)
    for table in ("adsl_atuc_chan", "adsl_atur_chan"):
        for field in ctx.profile.tables.get(table, {}):
            for index, value in ctx.column(table, field).items():
                if len(index) == 1:
                    put(line_of.get(index[0]), field, value)
    port_macs = {i[0]: m for i, m in ctx.column("port_mac", "mac").items() if len(i) == 1}

    out = []
    for line in sorted(lines)[:MAX_HEADEND_ROWS]:
        name, oper = ifinfo.get(line, (None, None))
        port = name or str(line)
        mac = port_macs.get(line)
        out.append(DslPort(
            port=port[:256], if_index=line, mac=mac,
            account=ctx.match(mac, port, str(line)),
            state=_IF_OPER.get(oper) if oper is not None else None,
            **values[line],
        ))
    return out


# --- OLT -----------------------------------------------------------------------------

_ONT_FIELDS = ("serial", "mac", "state", "rx_power_dbm", "tx_power_dbm", "olt_rx_power_dbm")


def _onts(ctx: Context, ifinfo: IfInfo) -> list[OntOptics]:
    fields: dict[str, dict[OID, Any]] = {}
    for table, cols in ctx.profile.tables.items():
        for field in cols:
            if field in _ONT_FIELDS:
                for index, value in ctx.column(table, field).items():
                    fields.setdefault(field, {}).setdefault(index, value)
    indexes: set[OID] = set()
    for table in ctx.profile.tables:
        indexes |= ctx.indexes(table)
    out = []
    for index in sorted(indexes)[:MAX_HEADEND_ROWS]:
        if not index:
            ctx.problems["bad_key"] += 1
            continue
        name = ifinfo.get(index[0], (None, None))[0] if len(index) > 1 else None
        rest = ".".join(map(str, index[1:])) if len(index) > 1 else str(index[0])
        ont = f"{name or index[0]}:{rest}" if len(index) > 1 else rest
        row = {f: c[index] for f, c in fields.items() if index in c}
        serial, mac = row.get("serial"), row.get("mac")
        out.append(OntOptics(
            ont=ont[:256], account=ctx.match(mac, serial, ont, ".".join(map(str, index))),
            **row,
        ))
    return out


# --- entry point ---------------------------------------------------------------------

def interface_indexes(profile: HeadendProfile, raw: Raw) -> list[int]:
    """The ifIndexes whose IF-MIB name and state the reading shows (fetched by GET)."""
    found: set[int] = set()
    if profile.kind == "cmts":
        tables = ["upstream_quality"]
    elif profile.kind == "dslam":
        tables = ["adsl_atuc_phys", "adsl_atur_phys", "vdsl2_line", "vdsl2_band"]
    else:
        tables = list(profile.tables)
    for table in tables:
        for values in raw.get(table, {}).values():
            for index in values:
                if index and 0 < index[0] <= _INDEX_MAX and (
                    profile.kind != "olt" or len(index) > 1
                ):
                    found.add(index[0])
    return sorted(found)[:4096]


def build_headend_reading(
    profile: HeadendProfile,
    headend: str,
    scalars: Mapping[str, Value],
    raw: Raw,
    ifinfo: IfInfo,
    lines: LineIndex | None,
    *,
    absent: list[str],
    walk_errors: int = 0,
    truncated: bool = False,
) -> tuple[HeadendReading, Counter[str]]:
    """The reading, and the problems it counted (for the probe's once-only log)."""
    ctx = Context(profile, raw, lines)
    parts: dict[str, Any] = {}
    if profile.kind == "cmts":
        parts["upstreams"] = _upstreams(ctx, ifinfo)
        parts["modems"] = _cmts_modems(ctx)[:MAX_HEADEND_ROWS]
    elif profile.kind == "dslam":
        parts["ports"] = _dsl_ports(ctx, ifinfo)
    else:
        parts["onts"] = _onts(ctx, ifinfo)
    if walk_errors:
        ctx.problems["walk_errors"] += walk_errors
    descr = scalars.get("sys_descr")
    uptime = scalars.get("sys_uptime_s")
    reading = HeadendReading(
        headend=headend,
        kind=profile.kind,  # type: ignore[arg-type]
        sys_descr=descr.decode("utf-8", errors="replace")[:1024]
        if isinstance(descr, bytes) else None,
        sys_uptime_s=uptime / 100 if isinstance(uptime, int) and uptime >= 0 else None,
        absent=absent[:64],
        problems=HeadendProblems(**{k: min(v, 10**9) for k, v in ctx.problems.items() if v}),
        truncated=truncated,
        **parts,
    )
    return reading, ctx.problems
