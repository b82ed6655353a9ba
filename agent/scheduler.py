"""When probes run: a heap of due times, not one sleeping task per target.

Every target is polled (SNMP + ping) once per ``interval_s`` at a stable phase
derived from a hash of its account, plus a little random jitter, so 100,000
targets spread evenly over the interval and keep their slot across restarts
and assignment refreshes. One loop pops due entries; a task exists only while
a poll is in flight, bounded by a semaphore (``concurrency``). How late a poll
starts (start - due) goes into the schedule-lag histogram.

``ProbeRunner`` runs one probe against one target with a deadline, turns
every failure into a ``ProbeError`` record, and keeps throughput tests
exclusive per node (one iperf3 at a time per node, as perfSONAR does, so two
tests never share and halve the node's capacity).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import heapq
import logging
import math
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence

import msgspec

from agent.metrics import AgentMetrics
from probes.base import Probe
from probes.model import (
    ProbeError,
    ProbeKind,
    ProbeRecord,
    Result,
    Target,
    WireError,
    decode_record,
)

log = logging.getLogger(__name__)

RecordSink = Callable[[list[ProbeRecord]], Awaitable[None]]

_LANE_POLL = 0
_LANE_THROUGHPUT = 1


def phase_of(account: str, interval_s: float) -> float:
    """Stable offset in [0, interval_s) for an account (same on every agent and restart)."""
    digest = hashlib.blake2b(account.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 * interval_s


def next_slot(phase: float, interval_s: float, after: float) -> float:
    """The first time >= ``after`` of the form phase + k * interval_s."""
    return phase + math.ceil((after - phase) / interval_s) * interval_s


def _plain(obj: object) -> object:
    """enc_hook: int/float subclasses a probe let through (e.g. an SNMP Counter64)."""
    if isinstance(obj, int):
        return int(obj)
    if isinstance(obj, float):
        return float(obj)
    raise TypeError(f"cannot encode {type(obj).__name__}")


_lenient = msgspec.json.Encoder(enc_hook=_plain)


def checked_record(record: ProbeRecord) -> ProbeRecord:
    """The record as the collector will decode it (plain types, validated). One
    invalid value must not get a whole batch rejected, so a record that does not
    validate becomes a ProbeError record instead."""
    try:
        return decode_record(_lenient.encode(record))
    except (WireError, TypeError, ValueError) as exc:
        return ProbeRecord(
            account=record.account,
            probe=record.probe,
            started_at=record.started_at,
            duration_s=record.duration_s,
            result=ProbeError(kind="decode", message=str(exc)[:2000]),
            job_id=record.job_id,
        )


class ProbeRunner:
    """Runs one probe kind against one target, bounded in time, never raising."""

    def __init__(
        self,
        probes: Mapping[str, Probe],
        metrics: AgentMetrics,
        deadline_s: float,
        throughput_deadline_s: float,
        clock: Callable[[], float] = time.time,
        throughput_wait_s: float | None = None,
    ) -> None:
        self.probes = probes
        # how long a throughput test waits for its node to be free before "busy"
        self.throughput_wait_s = throughput_wait_s or throughput_deadline_s
        self.metrics = metrics
        self.deadline_s = deadline_s
        self.throughput_deadline_s = throughput_deadline_s
        self.clock = clock
        self._node_locks: dict[str, list[object]] = {}  # node -> [Lock, users]
        self.throughput_running: dict[str, int] = {}  # node -> tests running (for tests)

    @contextlib.asynccontextmanager
    async def node_exclusive(self, node: str) -> AsyncIterator[None]:
        entry = self._node_locks.get(node)
        if entry is None:
            entry = self._node_locks[node] = [asyncio.Lock(), 0]
        lock: asyncio.Lock = entry[0]  # type: ignore[assignment]
        entry[1] = int(entry[1]) + 1  # type: ignore[call-overload]
        try:
            async with lock:
                self.throughput_running[node] = self.throughput_running.get(node, 0) + 1
                try:
                    yield
                finally:
                    self.throughput_running[node] -= 1
                    if not self.throughput_running[node]:
                        del self.throughput_running[node]
        finally:
            entry[1] = int(entry[1]) - 1  # type: ignore[call-overload]
            if not entry[1]:
                del self._node_locks[node]

    async def run(self, kind: ProbeKind, target: Target, job_id: str | None = None) -> ProbeRecord:
        started_at = self.clock()
        t0 = time.perf_counter()
        result = await self._measure(kind, target)
        duration = time.perf_counter() - t0
        outcome = result.kind if isinstance(result, ProbeError) else "ok"
        self.metrics.probes.labels(kind, outcome).inc()
        self.metrics.probe_duration.labels(kind).observe(duration)
        return checked_record(
            ProbeRecord(
                account=target.account,
                probe=kind,
                started_at=started_at,
                duration_s=duration,
                result=result,
                job_id=job_id,
            )
        )

    async def _measure(self, kind: ProbeKind, target: Target) -> Result:
        probe = self.probes.get(kind)
        if probe is None:
            return ProbeError(kind="config", message=f"probe {kind} is not configured")
        if kind == "throughput":
            return await self._throughput(probe, target)
        try:
            async with asyncio.timeout(self.deadline_s):
                return await probe.run(target)
        except TimeoutError:
            return ProbeError(kind="timeout", message=f"no result within {self.deadline_s:g} s")
        except Exception as exc:
            log.exception("%s probe failed on %s", kind, target.account)
            return ProbeError(kind="internal", message=type(exc).__name__)

    async def _throughput(self, probe: Probe, target: Target) -> Result:
        """Wait (bounded) for the node to be free, then run with the throughput deadline."""
        deadline = self.throughput_deadline_s
        lock_cm = self.node_exclusive(target.node)
        try:
            async with asyncio.timeout(self.throughput_wait_s):
                await lock_cm.__aenter__()
        except TimeoutError:
            return ProbeError(
                kind="busy",
                message=f"another throughput test held node {target.node} "
                f"for {self.throughput_wait_s:g} s",
            )
        try:
            async with asyncio.timeout(deadline):
                return await probe.run(target)
        except TimeoutError:
            return ProbeError(kind="timeout", message=f"no result within {deadline:g} s")
        except Exception as exc:  # a probe bug must not kill the scheduler
            log.exception("throughput probe failed on %s", target.account)
            return ProbeError(kind="internal", message=type(exc).__name__)
        finally:
            await lock_cm.__aexit__(None, None, None)

    async def run_many(
        self, kinds: Sequence[ProbeKind], target: Target, job_id: str | None = None
    ) -> list[ProbeRecord]:
        if len(kinds) == 1:
            return [await self.run(kinds[0], target, job_id)]
        return list(await asyncio.gather(*(self.run(k, target, job_id) for k in kinds)))


class Scheduler:
    """Polls every target once per interval at its phase; start() / stop()."""

    def __init__(
        self,
        runner: ProbeRunner,
        sink: RecordSink,
        metrics: AgentMetrics,
        *,
        interval_s: float,
        jitter_s: float = 0.0,
        concurrency: int = 1000,
        kinds: Sequence[ProbeKind] = ("snmp", "ping"),
        throughput_interval_s: float = 0.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.runner = runner
        self.sink = sink
        self.metrics = metrics
        self.interval_s = interval_s
        self.jitter_s = min(jitter_s, interval_s / 2)
        self.concurrency = concurrency
        self.kinds = tuple(kinds)
        self.throughput_interval_s = throughput_interval_s
        self.clock = clock
        self._targets: dict[str, Target] = {}
        # account -> base slot of its live heap entry, per lane; anything else in
        # the heap is stale (target removed or re-added) and skipped when popped.
        self._slots: tuple[dict[str, float], dict[str, float]] = ({}, {})
        self._heap: list[tuple[float, float, int, str]] = []  # (due, base, lane, account)
        self._sem = asyncio.Semaphore(concurrency)
        self._wake = asyncio.Event()
        self._inflight: set[asyncio.Task[None]] = set()
        self._loop_task: asyncio.Task[None] | None = None
        self._stopping = False
        self._rng = random.Random()
        self.polls_started = 0
        self.polls_done = 0
        self.max_inflight = 0

    # -- targets -----------------------------------------------------------------
    @property
    def targets(self) -> Mapping[str, Target]:
        return self._targets

    def set_targets(self, targets: Iterable[Target]) -> None:
        """Replace the target set. Kept accounts keep their slot; new ones join at
        their phase; removed ones are forgotten (their heap entries go stale)."""
        new = {t.account: t for t in targets}
        now = self.clock()
        lanes = [(_LANE_POLL, self.interval_s)]
        if self.throughput_interval_s > 0:
            lanes.append((_LANE_THROUGHPUT, self.throughput_interval_s))
        for lane, interval in lanes:
            slots = self._slots[lane]
            for account in list(slots):
                if account not in new:
                    del slots[account]
            for account in new:
                if account not in slots:
                    self._push(lane, account, next_slot(phase_of(account, interval), interval, now))
        self._targets = new
        self.metrics.targets.set(len(new))
        if len(self._heap) > 2 * (len(self._slots[0]) + len(self._slots[1])) + 1024:
            self._compact()
        self._wake.set()

    def _push(self, lane: int, account: str, base: float) -> None:
        self._slots[lane][account] = base
        due = base + (self._rng.random() * self.jitter_s if self.jitter_s else 0.0)
        heapq.heappush(self._heap, (due, base, lane, account))

    def _compact(self) -> None:
        self._heap = [e for e in self._heap if self._slots[e[2]].get(e[3]) == e[1]]
        heapq.heapify(self._heap)

    # -- lifecycle ---------------------------------------------------------------
    async def start(self) -> None:
        self._stopping = False
        self._loop_task = asyncio.create_task(self._run(), name="scheduler")

    async def stop(self, grace_s: float) -> None:
        """Stop scheduling; let in-flight polls finish within ``grace_s``, then cancel."""
        self._stopping = True
        self._wake.set()
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
            self._loop_task = None
        if self._inflight:
            _, pending = await asyncio.wait(list(self._inflight), timeout=grace_s)
            for task in pending:
                task.cancel()
            if pending:
                log.warning("cancelled %d polls still running after %.1f s", len(pending), grace_s)
                await asyncio.wait(pending, timeout=5.0)

    @property
    def inflight(self) -> int:
        return len(self._inflight)

    # -- the loop ----------------------------------------------------------------
    async def _run(self) -> None:
        heap = self._heap
        while not self._stopping:
            heap = self._heap
            if not heap:
                self._wake.clear()
                await self._wake.wait()
                continue
            due, base, lane, account = heap[0]
            now = self.clock()
            if due > now:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(due - now):
                        await self._wake.wait()
                continue
            heapq.heappop(heap)
            slots = self._slots[lane]
            if slots.get(account) != base:
                continue  # stale entry
            target = self._targets.get(account)
            if target is None:
                continue
            await self._sem.acquire()
            if self._stopping:
                self._sem.release()
                break
            start = self.clock()
            interval = self.interval_s if lane == _LANE_POLL else self.throughput_interval_s
            next_base = base + interval
            if next_base <= start:  # more than a whole interval behind: skip to the next slot
                next_base = next_slot(phase_of(account, interval), interval, start + 1e-6)
            if slots.get(account) == base:
                self._push(lane, account, next_base)
            if lane == _LANE_POLL:
                self.metrics.schedule_lag.observe(max(0.0, start - due))
                kinds = self.kinds
            else:
                kinds = ("throughput",)
            task = asyncio.create_task(self._poll(target, kinds))
            self._inflight.add(task)
            task.add_done_callback(self._poll_done)
            self.polls_started += 1
            self.max_inflight = max(self.max_inflight, len(self._inflight))

    def _poll_done(self, task: asyncio.Task[None]) -> None:
        self._inflight.discard(task)
        self._sem.release()
        self.polls_done += 1
        if not task.cancelled() and task.exception() is not None:
            log.error("poll failed: %r", task.exception())

    async def _poll(self, target: Target, kinds: Sequence[ProbeKind]) -> None:
        records = await self.runner.run_many(kinds, target)
        await self.sink(records)
