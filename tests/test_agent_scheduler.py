"""The scheduler: phase spread, bounded concurrency, deadlines, job lane, throughput exclusivity.

The probes here are in-process stand-ins that record when they ran: what is
under test is the scheduling, not the network (real probes are exercised by
the push and end-to-end tests against the fleet simulator).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter

from agent.jobs import JobRunner
from agent.metrics import AgentMetrics
from agent.scheduler import ProbeRunner, Scheduler, next_slot, phase_of
from probes.model import (
    Job,
    PingResult,
    ProbeError,
    ProbeKind,
    ProbeRecord,
    Result,
    SnmpReading,
    Target,
    ThroughputResult,
)


def target(i: int, node: str = "N1") -> Target:
    return Target(
        account=f"A{i:05d}", host=f"127.20.0.{i % 250 + 1}", technology="docsis", node=node,
        plan_down_mbps=100, plan_up_mbps=10,
    )


class RecordingProbe:
    """Answers after ``delay_s``; tracks how many runs overlap."""

    def __init__(self, kind: ProbeKind, delay_s: float = 0.0, result: Result | None = None):
        self.kind = kind
        self.delay_s = delay_s
        self.result = result or (
            SnmpReading(sys_uptime_s=1.0) if kind == "snmp" else PingResult(sent=1, received=1)
        )
        self.running = 0
        self.max_running = 0
        self.calls: list[tuple[str, float]] = []
        self.running_per_node: Counter[str] = Counter()
        self.max_per_node = 0

    async def run(self, t: Target) -> Result:
        self.calls.append((t.account, time.time()))
        self.running += 1
        self.running_per_node[t.node] += 1
        self.max_running = max(self.max_running, self.running)
        self.max_per_node = max(self.max_per_node, self.running_per_node[t.node])
        try:
            await asyncio.sleep(self.delay_s)
        finally:
            self.running -= 1
            self.running_per_node[t.node] -= 1
        return self.result

    async def aclose(self) -> None:
        return None


class Sink:
    def __init__(self) -> None:
        self.records: list[ProbeRecord] = []
        self.changed = asyncio.Event()

    async def __call__(self, records: list[ProbeRecord]) -> None:
        self.records.extend(records)
        self.changed.set()

    async def wait_for(self, n: int, timeout_s: float) -> None:
        async with asyncio.timeout(timeout_s):
            while len(self.records) < n:
                self.changed.clear()
                await self.changed.wait()


def make(probes: dict, *, interval_s: float, concurrency: int = 100, deadline_s: float = 5.0):
    metrics = AgentMetrics()
    runner = ProbeRunner(probes, metrics, deadline_s=deadline_s, throughput_deadline_s=2.0)
    sink = Sink()
    sched = Scheduler(
        runner, sink, metrics, interval_s=interval_s, jitter_s=0.0, concurrency=concurrency,
        kinds=[k for k in ("snmp", "ping") if k in probes],
    )
    return sched, runner, sink, metrics


def test_phases_are_stable_and_spread_evenly() -> None:
    interval = 300.0
    phases = [phase_of(f"ACC{i}", interval) for i in range(20_000)]
    assert phases[:100] == [phase_of(f"ACC{i}", interval) for i in range(100)]
    buckets = Counter(int(p // 30) for p in phases)  # ten 30 s slices
    assert set(buckets) == set(range(10))
    assert min(buckets.values()) > 1800 and max(buckets.values()) < 2200
    slot = next_slot(phase_of("ACC1", interval), interval, 1_000_000.0)
    assert 1_000_000.0 <= slot < 1_000_300.0
    assert (slot - phase_of("ACC1", interval)) % interval == 0


async def test_every_target_polled_once_per_interval_with_bounded_concurrency() -> None:
    snmp = RecordingProbe("snmp", delay_s=0.15)
    ping = RecordingProbe("ping", delay_s=0.05)
    sched, _, sink, metrics = make({"snmp": snmp, "ping": ping}, interval_s=1.0, concurrency=8)
    sched.set_targets([target(i) for i in range(40)])
    await sched.start()
    try:
        await asyncio.sleep(2.2)
    finally:
        await sched.stop(grace_s=2.0)
    per_target = Counter(account for account, _ in snmp.calls)
    assert len(per_target) == 40
    assert all(2 <= n <= 3 for n in per_target.values()), per_target
    assert 1 < snmp.max_running <= 8
    assert sched.max_inflight <= 8
    # every poll produced one snmp and one ping record, all spooled
    kinds = Counter(r.probe for r in sink.records)
    assert kinds["snmp"] == kinds["ping"] == len(snmp.calls)
    lag = metrics.registry.get_sample_value("linewatch_agent_schedule_lag_seconds_count")
    assert lag == len(snmp.calls)


async def test_polls_follow_phase_not_start_time() -> None:
    probe = RecordingProbe("snmp")
    sched, _, _, _ = make({"snmp": probe}, interval_s=2.0)
    targets = [target(i) for i in range(30)]
    sched.set_targets(targets)
    await sched.start()
    try:
        await asyncio.sleep(2.3)
        sched.set_targets([*targets[:20], target(100)])  # refresh keeps slots of kept ones
        await asyncio.sleep(2.1)
    finally:
        await sched.stop(grace_s=1.0)
    for account, at in probe.calls:
        offset = (at - phase_of(account, 2.0)) % 2.0
        assert min(offset, 2.0 - offset) < 0.25, (account, offset)
    late = [a for a, at in probe.calls if at > probe.calls[0][1] + 2.35]
    assert "A00025" not in late  # removed by the refresh


async def test_hanging_probe_ends_at_the_deadline() -> None:
    hang = RecordingProbe("snmp", delay_s=60.0)
    runner = ProbeRunner({"snmp": hang}, AgentMetrics(), deadline_s=0.3, throughput_deadline_s=1)
    t0 = time.monotonic()
    record = await runner.run("snmp", target(1))
    assert time.monotonic() - t0 < 1.0
    assert isinstance(record.result, ProbeError) and record.result.kind == "timeout"
    missing = await runner.run("path", target(1))
    assert isinstance(missing.result, ProbeError) and missing.result.kind == "config"


async def test_job_runs_at_once_while_the_schedule_is_saturated() -> None:
    slow = RecordingProbe("snmp", delay_s=1.5)
    sched, runner, _, metrics = make({"snmp": slow}, interval_s=0.5, concurrency=2)
    sched.set_targets([target(i) for i in range(50)])
    job_sink = Sink()
    jobs = JobRunner(runner, lambda: sched.targets, job_sink, metrics, 8, time.time)
    await sched.start()
    try:
        await asyncio.sleep(0.6)  # both schedule slots now busy for 1.5 s
        assert slow.running == 2
        t0 = time.monotonic()
        jobs.submit(Job(job_id="job-1", account="A00007", probes=["snmp"]))
        jobs.submit(Job(job_id="job-1", account="A00007", probes=["snmp"]))  # repeat ignored
        jobs.submit(Job(job_id="job-2", account="nobody-here", probes=["snmp", "ping"]))
        await job_sink.wait_for(3, timeout_s=5)
        elapsed = time.monotonic() - t0
    finally:
        await jobs.stop(1.0)
        await sched.stop(grace_s=0.1)
    assert elapsed < 1.6 + 0.3  # one probe's time, not a queue of scheduled polls
    by_job = Counter(r.job_id for r in job_sink.records)
    assert by_job == {"job-1": 1, "job-2": 2}
    unknown = [r for r in job_sink.records if r.job_id == "job-2"]
    assert all(isinstance(r.result, ProbeError) and r.result.kind == "config" for r in unknown)


async def test_one_throughput_test_per_node_at_a_time() -> None:
    iperf = RecordingProbe("throughput", delay_s=0.3, result=ThroughputResult(down_mbps=90.0))
    runner = ProbeRunner(
        {"throughput": iperf}, AgentMetrics(), deadline_s=1, throughput_deadline_s=5
    )
    t0 = time.monotonic()
    same_node = [runner.run("throughput", target(i, node="N1")) for i in range(3)]
    other_node = [runner.run("throughput", target(10 + i, node=f"N{i + 2}")) for i in range(3)]
    records = await asyncio.gather(*same_node, *other_node)
    assert time.monotonic() - t0 >= 0.85  # three on N1 ran one after another
    assert iperf.max_per_node == 1
    assert iperf.max_running >= 3  # different nodes ran side by side
    assert all(isinstance(r.result, ThroughputResult) for r in records)

    # a test that cannot get the node within its wait reports busy
    quick = ProbeRunner(
        {"throughput": iperf}, AgentMetrics(), deadline_s=1, throughput_deadline_s=2,
        throughput_wait_s=0.1,
    )
    a, b = await asyncio.gather(
        quick.run("throughput", target(1)), quick.run("throughput", target(2))
    )
    kinds = sorted(type(r.result).__name__ for r in (a, b))
    assert kinds == ["ProbeError", "ThroughputResult"]
    err = a.result if isinstance(a.result, ProbeError) else b.result
    assert isinstance(err, ProbeError) and err.kind == "busy"


async def test_slow_throughput_schedule_runs_when_enabled() -> None:
    iperf = RecordingProbe("throughput", delay_s=0.05, result=ThroughputResult(down_mbps=1.0))
    snmp = RecordingProbe("snmp")
    metrics = AgentMetrics()
    runner = ProbeRunner({"snmp": snmp, "throughput": iperf}, metrics, 1.0, 2.0)
    sink = Sink()
    sched = Scheduler(
        runner, sink, metrics, interval_s=0.5, concurrency=10, kinds=["snmp"],
        throughput_interval_s=1.0,
    )
    sched.set_targets([target(i, node="N1") for i in range(5)])
    await sched.start()
    try:
        await asyncio.sleep(1.2)
    finally:
        await sched.stop(grace_s=1.0)
    assert {a for a, _ in iperf.calls} == {f"A{i:05d}" for i in range(5)}
    assert iperf.max_per_node == 1
