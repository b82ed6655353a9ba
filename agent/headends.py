"""Headend polls: every CMTS, DSLAM and OLT once per ``[headend] interval_s``.

A headend is polled at a stable phase of its own interval (like targets, from
a hash of its id), at most ``concurrency`` at once, each within
``max_time_s`` + a margin. Its rows are matched to the inventory lines it
serves (``line_indexes``: by MAC, else by port / ONT id / serial) and the
reading goes to the spool as one ProbeRecord(account=<headend id>,
probe="headend"). Rows that match no line are counted (the reading's
``problems.unmatched`` and ``linewatch_agent_headend_rows_total``) and logged
once per headend.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING

from agent.metrics import AgentMetrics
from agent.scheduler import RecordSink, checked_record, next_slot, phase_of
from probes.model import (
    HEADEND_KIND_OF,
    Headend,
    HeadendReading,
    ProbeError,
    ProbeRecord,
    Target,
)
from probes.snmp.headend_reading import LineIndex

if TYPE_CHECKING:  # pysnmp is imported only where the probe is built
    from probes.snmp.headend import HeadendProbe

log = logging.getLogger(__name__)

_DEADLINE_MARGIN_S = 5.0  # on top of the probe's own max_time_s


def line_indexes(headends: Iterable[Headend], targets: Iterable[Target]) -> dict[str, LineIndex]:
    """Per headend, its lines by MAC and by port. A line is served by the headend its
    ``headend`` column names, else by the headend(s) of its node whose kind serves
    its technology (cmts: docsis, dslam: dsl, olt: gpon). A ``headend_port`` is
    used only where the headend is certain (named, or the only one of the node)."""
    by_id = {h.headend: h for h in headends}
    serving: dict[tuple[str, str], list[str]] = defaultdict(list)
    for h in by_id.values():
        for node in h.nodes:
            serving[(node, h.kind)].append(h.headend)
    macs: dict[str, dict[str, str]] = {h: {} for h in by_id}
    ports: dict[str, dict[str, str]] = {h: {} for h in by_id}
    for t in targets:
        if t.headend:
            candidates = [t.headend] if t.headend in by_id else []
        else:
            kind = HEADEND_KIND_OF.get(t.technology)
            candidates = serving.get((t.node, kind), []) if kind else []
        for h in candidates:
            if t.mac:
                macs[h][t.mac] = t.account
            if t.headend_port and len(candidates) == 1:
                ports[h][t.headend_port.strip().lower()] = t.account
    return {h: LineIndex(macs[h], ports[h]) for h in by_id}


class HeadendScheduler:
    """Polls every headend once per interval at its phase; ``start()`` / ``stop()``."""

    def __init__(
        self,
        probe: HeadendProbe,
        sink: RecordSink,
        metrics: AgentMetrics,
        *,
        interval_s: float,
        concurrency: int = 4,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.probe = probe
        self.sink = sink
        self.metrics = metrics
        self.interval_s = interval_s
        self.clock = clock
        self.deadline_s = probe.max_time_s + _DEADLINE_MARGIN_S
        self._headends: dict[str, Headend] = {}
        self._lines: dict[str, LineIndex] = {}
        self._slots: dict[str, float] = {}  # headend -> base slot of its live heap entry
        self._heap: list[tuple[float, str]] = []
        self._sem = asyncio.Semaphore(concurrency)
        self._wake = asyncio.Event()
        self._inflight: set[asyncio.Task[None]] = set()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._unmatched_logged: set[str] = set()
        self.polls_done = 0

    @property
    def headends(self) -> Mapping[str, Headend]:
        return self._headends

    def set(self, headends: Iterable[Headend], targets: Iterable[Target]) -> None:
        """Replace the headends and the lines they are matched against. Kept
        headends keep their slot; new ones join at their phase."""
        new = {h.headend: h for h in headends}
        lines = line_indexes(new.values(), targets)
        for h in list(self._slots):
            if h not in new:
                del self._slots[h]
        now = self.clock()
        for h in new:
            if h not in self._slots:
                base = next_slot(phase_of(h, self.interval_s), self.interval_s, now)
                self._push(h, base)
        for h, index in lines.items():
            if self._lines.get(h) != index:
                self._unmatched_logged.discard(h)  # the inventory changed: say it again
        self._headends, self._lines = new, lines
        self.metrics.headends.set(len(new))
        if len(self._heap) > 2 * len(self._slots) + 64:
            self._heap = [(d, h) for d, h in self._heap if self._slots.get(h) == d]
            heapq.heapify(self._heap)
        self._wake.set()

    def _push(self, headend: str, base: float) -> None:
        self._slots[headend] = base
        heapq.heappush(self._heap, (base, headend))

    async def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name="headend-scheduler")

    async def stop(self, grace_s: float) -> None:
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._inflight:
            _, pending = await asyncio.wait(list(self._inflight), timeout=grace_s)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=5.0)

    async def _run(self) -> None:
        while not self._stopping:
            if not self._heap:
                self._wake.clear()
                await self._wake.wait()
                continue
            due, headend = self._heap[0]
            now = self.clock()
            if due > now:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(due - now):
                        await self._wake.wait()
                continue
            heapq.heappop(self._heap)
            if self._slots.get(headend) != due or headend not in self._headends:
                continue  # stale entry (removed or re-added)
            await self._sem.acquire()
            if self._stopping:
                self._sem.release()
                break
            nxt = due + self.interval_s
            if nxt <= self.clock():  # a whole interval behind: the next slot from now
                nxt = next_slot(phase_of(headend, self.interval_s), self.interval_s,
                                self.clock() + 1e-6)
            self._push(headend, nxt)
            task = asyncio.create_task(self._poll_and_sink(self._headends[headend]))
            self._inflight.add(task)
            task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._inflight.discard(task)
        self._sem.release()
        self.polls_done += 1
        if not task.cancelled() and task.exception() is not None:
            log.error("headend poll failed: %r", task.exception())

    async def _poll_and_sink(self, headend: Headend) -> None:
        await self.sink([await self.poll(headend)])

    async def poll(self, headend: Headend) -> ProbeRecord:
        """One poll of ``headend`` as the record the agent ships (never raises)."""
        started_at = self.clock()
        t0 = time.perf_counter()
        lines = self._lines.get(headend.headend, LineIndex({}, {}))
        result: HeadendReading | ProbeError
        try:
            async with asyncio.timeout(self.deadline_s):
                result = await self.probe.run(headend, lines)
        except TimeoutError:
            result = ProbeError(kind="timeout", message=f"no result within {self.deadline_s:g} s")
        except Exception as exc:  # a probe bug must not stop the headend lane
            log.exception("headend probe failed on %s", headend.headend)
            result = ProbeError(kind="internal", message=type(exc).__name__)
        duration = time.perf_counter() - t0
        m = self.metrics
        m.probes.labels("headend", result.kind if isinstance(result, ProbeError) else "ok").inc()
        m.probe_duration.labels("headend").observe(duration)
        if isinstance(result, HeadendReading):
            self._count(headend, result)
        return checked_record(ProbeRecord(
            account=headend.headend, probe="headend", started_at=started_at,
            duration_s=duration, result=result,
        ))

    def _count(self, headend: Headend, reading: HeadendReading) -> None:
        rows = [*reading.modems, *reading.ports, *reading.onts]
        unmatched = [r for r in rows if r.account is None]
        kind = headend.kind
        self.metrics.headend_rows.labels(kind, "matched").inc(len(rows) - len(unmatched))
        self.metrics.headend_rows.labels(kind, "unmatched").inc(len(unmatched))
        for problem, count in _problem_counts(reading).items():
            if count:
                self.metrics.headend_problems.labels(kind, problem).inc(count)
        if unmatched and headend.headend not in self._unmatched_logged:
            self._unmatched_logged.add(headend.headend)
            first = unmatched[0]
            example = getattr(first, "mac", None) or getattr(first, "port", None) or getattr(
                first, "ont", None)
            log.warning(
                "headend %s: %d of %d rows match no inventory line (e.g. %s); counted in "
                "linewatch_agent_headend_rows_total{outcome=\"unmatched\"}, logged once",
                headend.headend, len(unmatched), len(rows), example,
            )


def _problem_counts(reading: HeadendReading) -> dict[str, int]:
    p = reading.problems
    counts = {
        name: getattr(p, name) for name in p.__struct_fields__ if name != "unmatched"
    }
    counts["truncated"] = int(reading.truncated)
    return counts
