"""The inventory CSV (public contract): parse into Targets with line-numbered errors.

Columns: account,host,technology,node,plan_down_mbps,plan_up_mbps and optional
snmp_port,snmp_profile,credentials,iperf_host,iperf_port,agent.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator

import msgspec

from probes.model import Target

REQUIRED = ("account", "host", "technology", "node", "plan_down_mbps", "plan_up_mbps")
OPTIONAL = ("snmp_port", "snmp_profile", "credentials", "iperf_host", "iperf_port", "agent")
_RENAMED = {"snmp_port": "port"}
_NUMERIC = {"plan_down_mbps": float, "plan_up_mbps": float, "snmp_port": int, "iperf_port": int}


class InventoryError(ValueError):
    """A CSV that cannot be imported; names the line and the column."""


def parse_inventory(text: str) -> list[Target]:
    # newline="": the csv module does its own line handling (a bare CR in a
    # quoted field stays data; one outside a quote is an error, not a crash).
    return list(iter_inventory(io.StringIO(text, newline="")))


def iter_inventory(lines: Iterable[str]) -> Iterator[Target]:
    reader = csv.DictReader(lines)
    try:
        yield from _targets(reader)
    except csv.Error as exc:  # malformed CSV: a clear error naming the line
        raise InventoryError(f"line {max(reader.line_num, 1)}: {exc}") from None


def _targets(reader: csv.DictReader[str]) -> Iterator[Target]:
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise InventoryError(f"line 1: missing column(s) {', '.join(missing)}")
    unknown = [c for c in header if c not in REQUIRED and c not in OPTIONAL]
    if unknown:
        raise InventoryError(f"line 1: unknown column(s) {', '.join(unknown)}")
    reader.fieldnames = header
    seen: set[str] = set()
    for row in reader:
        line = reader.line_num
        fields: dict[str, object] = {}
        for column, raw in row.items():
            if column is None:
                raise InventoryError(f"line {line}: more fields than columns")
            value = (raw or "").strip()
            if value == "":
                if column in REQUIRED:
                    raise InventoryError(f"line {line}: {column} is empty")
                continue
            convert = _NUMERIC.get(column)
            if convert is not None:
                try:
                    fields[_RENAMED.get(column, column)] = convert(value)
                except ValueError:
                    raise InventoryError(
                        f"line {line}: {column}={value!r} is not a number"
                    ) from None
            else:
                fields[_RENAMED.get(column, column)] = value
        try:
            target = msgspec.convert(fields, Target)
        except msgspec.ValidationError as exc:
            raise InventoryError(f"line {line}: {exc}") from None
        if target.account in seen:
            raise InventoryError(f"line {line}: account {target.account} appears twice")
        seen.add(target.account)
        yield target


def format_inventory(targets: Iterable[Target]) -> str:
    """Targets back to CSV (used by the lab to write the fleet's inventory)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(REQUIRED + OPTIONAL)
    for t in targets:
        writer.writerow(
            [t.account, t.host, t.technology, t.node, t.plan_down_mbps, t.plan_up_mbps,
             t.port, t.snmp_profile or "", t.credentials, t.iperf_host or "", t.iperf_port,
             t.agent or ""]
        )
    return out.getvalue()
