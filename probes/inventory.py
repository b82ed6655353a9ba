"""The inventory CSVs (public contract): parse into Targets / Headends with
line-numbered errors.

Lines: account,host,technology,node,plan_down_mbps,plan_up_mbps and optional
snmp_port,snmp_profile,credentials,iperf_host,iperf_port,agent,mac,headend,headend_port,
language (the customer's: en, sv or pl; empty = the collector's default_language).

Headends (a second CSV, told apart by its header): headend,host,kind,nodes and
optional snmp_port,snmp_profile,credentials,agent. ``nodes`` lists the nodes
the headend serves, separated by spaces or semicolons.

How a line is matched to its headend's rows is in docs/CONTRACTS.md
("Headends"); ``mac`` is normalised here (any of aa:bb:cc:dd:ee:ff,
AA-BB-CC-DD-EE-FF, aabb.ccdd.eeff, aabbccddeeff).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator
from typing import NamedTuple

import msgspec

from probes.model import LANGUAGES, Headend, Target
from probes.resolve import HostError, parse_host

REQUIRED = ("account", "host", "technology", "node", "plan_down_mbps", "plan_up_mbps")
OPTIONAL = (
    "snmp_port", "snmp_profile", "credentials", "iperf_host", "iperf_port", "agent",
    "mac", "headend", "headend_port", "language",
)
# Written by format_inventory only when some target uses them (older readers of
# our CSVs see the columns they know).
_NEWER = ("mac", "headend", "headend_port")
_BASE_OPTIONAL = OPTIONAL[: OPTIONAL.index(_NEWER[0])]
HEADEND_REQUIRED = ("headend", "host", "kind", "nodes")
HEADEND_OPTIONAL = ("snmp_port", "snmp_profile", "credentials", "agent")
_RENAMED = {"snmp_port": "port"}
_NUMERIC = {"plan_down_mbps": float, "plan_up_mbps": float, "snmp_port": int, "iperf_port": int}
_MAC_HEX = re.compile(r"^[0-9a-f]{12}$")
_NODE_SPLIT = re.compile(r"[;\s]+")
# IPv4, IPv6 (zone only on link-local) or a DNS name (probes/resolve.py).
_HOSTS = frozenset({"host", "iperf_host"})


class InventoryError(ValueError):
    """A CSV that cannot be imported; names the line and the column."""


class InventoryDocument(NamedTuple):
    """What one uploaded CSV held: lines, or headends (never both)."""

    targets: list[Target]
    headends: list[Headend]


def normalise_mac(text: str) -> str | None:
    """``aa:bb:cc:dd:ee:ff`` from the usual notations, None when it is not a MAC.
    Colon groups may drop leading zeros (net-snmp prints 0:1b:... that way)."""
    value = text.strip().lower()
    if ":" in value:
        groups = value.split(":")
        if len(groups) == 6 and all(1 <= len(g) <= 2 for g in groups):
            value = "".join(g.rjust(2, "0") for g in groups)
    else:
        value = value.replace("-", "").replace(".", "").replace(" ", "")
    if not _MAC_HEX.match(value):
        return None
    return ":".join(value[i : i + 2] for i in range(0, 12, 2))


def mac_from_octets(raw: bytes) -> str | None:
    """A MacAddress (SNMPv2-TC, 6 octets) as the normalised text; None otherwise."""
    return raw.hex(":") if len(raw) == 6 else None


def parse_inventory(text: str) -> list[Target]:
    # newline="": the csv module does its own line handling (a bare CR in a
    # quoted field stays data; one outside a quote is an error, not a crash).
    return list(iter_inventory(io.StringIO(text, newline="")))


def parse_headends(text: str) -> list[Headend]:
    """The headends CSV (header ``headend,host,kind,nodes,...``)."""
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        return list(_headends(reader))
    except csv.Error as exc:
        raise InventoryError(f"line {max(reader.line_num, 1)}: {exc}") from None


def is_headend_csv(text: str) -> bool:
    """True when the CSV's header is the headends one (has ``kind``, no ``account``)."""
    first = next(iter(io.StringIO(text, newline="")), "")
    try:
        header = next(csv.reader([first]), [])
    except csv.Error:
        return False
    names = {h.strip() for h in header}
    return "headend" in names and "kind" in names and "account" not in names


def parse_inventory_document(text: str) -> InventoryDocument:
    """Lines or headends, whichever the header says (one command imports both)."""
    if is_headend_csv(text):
        return InventoryDocument([], parse_headends(text))
    return InventoryDocument(parse_inventory(text), [])


def check_hosts(
    targets: list[Target], headends: list[Headend]
) -> tuple[list[Target], list[Headend]]:
    """The hosts of a JSON upload checked and normalised as the CSV's are
    (parse_host), so a bad one is refused at import, not left to end as
    ``unresolved`` at poll time. InventoryError names the target and field."""
    fixed: list[Target] = []
    for t in targets:
        host = _host("target", t.account, "host", t.host)
        iperf = (None if t.iperf_host is None
                 else _host("target", t.account, "iperf_host", t.iperf_host))
        same = host == t.host and iperf == t.iperf_host
        fixed.append(t if same else msgspec.structs.replace(t, host=host, iperf_host=iperf))
    heads = [h if (host := _host("headend", h.headend, "host", h.host)) == h.host
             else msgspec.structs.replace(h, host=host) for h in headends]
    return fixed, heads


def _host(what: str, name: str, field: str, value: str) -> str:
    try:
        return parse_host(value)
    except HostError as exc:
        raise InventoryError(f"{what} {name}, field {field}: {exc}") from None


def iter_inventory(lines: Iterable[str]) -> Iterator[Target]:
    reader = csv.DictReader(lines)
    try:
        yield from _targets(reader)
    except csv.Error as exc:  # malformed CSV: a clear error naming the line
        raise InventoryError(f"line {max(reader.line_num, 1)}: {exc}") from None


def _header(
    reader: csv.DictReader[str], required: tuple[str, ...], optional: tuple[str, ...]
) -> None:
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in required if c not in header]
    if missing:
        raise InventoryError(f"line 1: missing column(s) {', '.join(missing)}")
    unknown = [c for c in header if c not in required and c not in optional]
    if unknown:
        raise InventoryError(f"line 1: unknown column(s) {', '.join(unknown)}")
    reader.fieldnames = header


def _cells(
    reader: csv.DictReader[str], row: dict[str | None, str | None], required: tuple[str, ...]
) -> dict[str, object]:
    line = reader.line_num
    fields: dict[str, object] = {}
    for column, raw in row.items():
        if column is None:
            raise InventoryError(f"line {line}: more fields than columns")
        value = (raw or "").strip()
        if value == "":
            if column in required:
                raise InventoryError(f"line {line}: {column} is empty")
            continue
        convert = _NUMERIC.get(column)
        if convert is not None:
            try:
                fields[_RENAMED.get(column, column)] = convert(value)
            except ValueError:
                raise InventoryError(f"line {line}: {column}={value!r} is not a number") from None
        elif column == "mac":
            mac = normalise_mac(value)
            if mac is None:
                raise InventoryError(f"line {line}: mac={value[:40]!r} is not a MAC address")
            fields["mac"] = mac
        elif column == "language":
            language = value.lower()
            if language not in LANGUAGES:
                raise InventoryError(f"line {line}, column language: {value[:40]!r} is not "
                                     f"one of {', '.join(LANGUAGES)}")
            fields["language"] = language
        elif column in _HOSTS:
            try:
                fields[column] = parse_host(value)
            except HostError as exc:
                raise InventoryError(f"line {line}, column {column}: {exc}") from None
        elif column == "nodes":
            fields["nodes"] = [n for n in _NODE_SPLIT.split(value) if n]
        else:
            fields[_RENAMED.get(column, column)] = value
    return fields


def _targets(reader: csv.DictReader[str]) -> Iterator[Target]:
    _header(reader, REQUIRED, OPTIONAL)
    seen: set[str] = set()
    for row in reader:
        line = reader.line_num
        fields = _cells(reader, row, REQUIRED)  # type: ignore[arg-type]
        try:
            target = msgspec.convert(fields, Target)
        except msgspec.ValidationError as exc:
            raise InventoryError(f"line {line}: {exc}") from None
        if target.account in seen:
            raise InventoryError(f"line {line}: account {target.account} appears twice")
        seen.add(target.account)
        yield target


def _headends(reader: csv.DictReader[str]) -> Iterator[Headend]:
    _header(reader, HEADEND_REQUIRED, HEADEND_OPTIONAL)
    seen: set[str] = set()
    for row in reader:
        line = reader.line_num
        # nodes may be empty: lines can name the headend in their own column.
        fields = _cells(reader, row, HEADEND_REQUIRED[:3])  # type: ignore[arg-type]
        try:
            headend = msgspec.convert(fields, Headend)
        except msgspec.ValidationError as exc:
            raise InventoryError(f"line {line}: {exc}") from None
        if headend.headend in seen:
            raise InventoryError(f"line {line}: headend {headend.headend} appears twice")
        seen.add(headend.headend)
        yield headend


def format_inventory(targets: Iterable[Target]) -> str:
    """Targets back to CSV (used by the lab to write the fleet's inventory). The
    mac/headend/headend_port columns, and language, are written only when some
    target has them (older readers of our CSVs see the columns they know)."""
    rows = list(targets)
    newer = any(t.mac or t.headend or t.headend_port for t in rows)
    language = any(t.language for t in rows)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    columns = (REQUIRED + _BASE_OPTIONAL + (_NEWER if newer else ())
               + (("language",) if language else ()))
    writer.writerow(columns)
    for t in rows:
        cells = [t.account, t.host, t.technology, t.node, t.plan_down_mbps, t.plan_up_mbps,
                 t.port, t.snmp_profile or "", t.credentials, t.iperf_host or "", t.iperf_port,
                 t.agent or ""]
        if newer:
            cells += [t.mac or "", t.headend or "", t.headend_port or ""]
        if language:
            cells.append(t.language or "")
        writer.writerow(cells)
    return out.getvalue()


def format_headends(headends: Iterable[Headend]) -> str:
    """Headends back to CSV (``parse_headends`` reads it)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADEND_REQUIRED + HEADEND_OPTIONAL)
    for h in headends:
        writer.writerow([h.headend, h.host, h.kind, " ".join(h.nodes), h.port,
                         h.snmp_profile or "", h.credentials, h.agent or ""])
    return out.getvalue()
