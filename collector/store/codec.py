"""Row <-> struct conversions shared by the SQLite and PostgreSQL stores.

Both backends keep whole structs as msgspec JSON (one encode/decode place)
next to the few plain columns that indexes and GROUP BYs need.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import msgspec

from collector.model import VERDICTS, Event, NodeSummary, Verdict
from collector.store.base import HistoryPoint
from probes.model import ProbeRecord, Target

HOUR_S = 3600.0
# Batch ids are remembered this long; an agent re-pushing an older batch gets it
# ingested again (latest records never regress thanks to the started_at guard,
# history may get duplicate points). Agents spool for far less than this.
BATCH_ID_KEEP_S = 7 * 24 * 3600.0

encode = msgspec.json.Encoder().encode
target_decoder = msgspec.json.Decoder(Target)
record_decoder = msgspec.json.Decoder(ProbeRecord)
verdict_decoder = msgspec.json.Decoder(Verdict)
event_decoder = msgspec.json.Decoder(Event)
metrics_decoder = msgspec.json.Decoder(dict[str, float])


def whole_accounts(rows: list[tuple[str, bytes]], size: int) -> tuple[list[bytes], str | None]:
    """One page of (account, data) rows ordered by account: the data of the
    accounts it holds whole, and the cursor for the next page (None at the end).
    A full page gives back the rows of its last account, which may go on."""
    if len(rows) < size:
        return [r[1] for r in rows], None
    last = rows[-1][0]
    keep = [r[1] for r in rows if r[0] != last]
    if not keep:  # one account filled the page: cannot happen with a sane size
        raise ValueError(f"page of {size} rows holds one account only")
    return keep, rows[len(keep) - 1][0]


def metrics_text(point: HistoryPoint) -> str:
    return encode(point.metrics).decode()


def hour_floor(t: float) -> float:
    return (t // HOUR_S) * HOUR_S


def down_seconds(
    changes: list[tuple[str, float]], start: float, end: float, down: frozenset[str]
) -> float:
    """Sum of [since_i, since_i+1) intervals in a down verdict, clipped to [start, end).

    ``changes`` is oldest first and should begin with the verdict in effect at
    ``start`` (the last change at or before it), so time before the first change
    in the window is attributed correctly.
    """
    total = 0.0
    for i, (name, since) in enumerate(changes):
        if name not in down:
            continue
        stop = changes[i + 1][1] if i + 1 < len(changes) else end
        lo, hi = max(since, start), min(stop, end)
        if hi > lo:
            total += hi - lo
    return total


# Accounts per (node, verdict): inventory targets (no verdict yet = "unknown")
# plus verdicts of accounts no longer in the inventory. Same SQL on both backends.
NODE_COUNTS_SQL = """
SELECT node, verdict, count(*) FROM (
    SELECT t.node AS node, coalesce(v.verdict, 'unknown') AS verdict
    FROM targets AS t LEFT JOIN verdicts AS v ON v.account = t.account
    UNION ALL
    SELECT v.node, v.verdict FROM verdicts AS v
    WHERE NOT EXISTS (SELECT 1 FROM targets AS t WHERE t.account = v.account)
) AS accounts GROUP BY node, verdict
"""


def node_summaries(
    counts: Sequence[tuple[str, str, int]], states: Mapping[str, tuple[bool, float | None]]
) -> list[NodeSummary]:
    """NodeSummary rows from (node, verdict, count) rows and node outage states."""
    per_node: dict[str, dict[str, int]] = {}
    for node, verdict, n in counts:
        per_node.setdefault(node, dict.fromkeys(VERDICTS, 0))[verdict] = int(n)
    out = []
    for node in sorted(per_node):
        outage, since = states.get(node, (False, None))
        by_verdict = per_node[node]
        out.append(
            NodeSummary(
                node=node,
                accounts=sum(by_verdict.values()),
                counts=by_verdict,
                outage=outage,
                outage_since=since if outage else None,
            )
        )
    return out
