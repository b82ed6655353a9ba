"""Verdict engine speed at collector scale: 100k accounts, one node goes dark.

The collector target: after the batch that reveals an outage is ingested,
every account of that node shows ``area_outage`` within 2 s. This measures
the engine's share of that: ``observe()`` of an agent batch in which most of
one 500-modem node goes dark, on an engine already holding 100k accounts,
and ``tick()`` (idle, and with 1 % of accounts going stale).

The peer, measured in the same run, is the obvious design this engine
avoids: re-judging every account after each batch (a full recompute). The
ratio full/incremental says what the incremental design buys.

    .venv/bin/python -m bench.bench_engine [--accounts 100000] [--node-size 500]

Bounded: fixed account counts, a handful of timed calls, no network.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from collections.abc import Callable

from collector.verdicts import EngineOutput, Thresholds, VerdictEngine
from probes.model import (
    DocsisLine,
    DownstreamChannel,
    InterfaceStatus,
    PingResult,
    ProbeError,
    ProbeRecord,
    SnmpReading,
    Target,
    UpstreamChannel,
)

T0 = 1_800_000_000.0
POLL = 300.0


def _reading(uptime: float) -> SnmpReading:
    return SnmpReading(
        sys_uptime_s=uptime,
        interfaces=[InterfaceStatus(index=1, role="lan", oper_up=True)],
        line=DocsisLine(
            downstream=[
                DownstreamChannel(
                    index=i,
                    power_dbmv=1.5,
                    snr_db=38.0,
                    unerrored=10_000_000 + int(uptime),
                    corrected=100,
                    uncorrectable=3,
                )
                for i in range(1, 9)
            ],
            upstream=[UpstreamChannel(index=i, tx_power_dbmv=44.0) for i in range(1, 5)],
            cm_status=12,
            t3_timeouts=0,
            t4_timeouts=0,
        ),
    )


def _good(account: str, at: float) -> list[ProbeRecord]:
    return [
        ProbeRecord(
            account=account,
            probe="snmp",
            started_at=at,
            duration_s=0.1,
            result=_reading(1e6 + at - T0),
        ),
        ProbeRecord(
            account=account,
            probe="ping",
            started_at=at + 0.5,
            duration_s=1.0,
            result=PingResult(sent=5, received=5, rtt_avg_ms=8.0),
        ),
    ]


def _dark(account: str, at: float) -> list[ProbeRecord]:
    return [
        ProbeRecord(
            account=account,
            probe="snmp",
            started_at=at,
            duration_s=2.0,
            result=ProbeError(kind="timeout"),
        ),
        ProbeRecord(
            account=account,
            probe="ping",
            started_at=at + 0.5,
            duration_s=1.0,
            result=PingResult(sent=5, received=0),
        ),
    ]


def _timed(fn: Callable[[], EngineOutput]) -> tuple[float, EngineOutput]:
    gc.collect()
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--accounts", type=int, default=100_000)
    ap.add_argument("--node-size", type=int, default=500)
    ap.add_argument("--batch", type=int, default=5_000, help="accounts per agent batch")
    args = ap.parse_args()
    n, size = args.accounts, args.node_size
    nodes = max(1, n // size)
    targets = [
        Target(
            account=f"ACC{i:07d}",
            host=f"127.20.{i // 250 % 256}.{i % 250 + 1}",
            technology="docsis",
            node=f"NODE-{i // size:04d}",
            plan_down_mbps=250.0,
            plan_up_mbps=25.0,
        )
        for i in range(n)
    ]
    accounts = [t.account for t in targets]
    print(f"verdict engine: {n} accounts on {nodes} nodes of {size}")

    t_build, engine = time.perf_counter(), VerdictEngine(Thresholds.default(), targets)
    print(f"  construct                         {time.perf_counter() - t_build:8.3f} s")

    # One full poll round, in agent-sized batches (warms every account to ok).
    start = time.perf_counter()
    for i in range(0, n, args.batch):
        batch = [r for a in accounts[i : i + args.batch] for r in _good(a, T0)]
        engine.observe(batch, T0 + 5)
    full_round = time.perf_counter() - start
    print(
        f"  first poll round ({2 * n} records)   {full_round:8.3f} s "
        f"({2 * n / full_round:,.0f} records/s, every account judged)"
    )
    start = time.perf_counter()
    for i in range(0, n, args.batch):
        batch = [r for a in accounts[i : i + args.batch] for r in _good(a, T0 + POLL)]
        engine.observe(batch, T0 + POLL + 5)
    steady = time.perf_counter() - start
    print(f"  steady poll round (no changes)    {steady:8.3f} s ({2 * n / steady:,.0f} records/s)")

    # The batch that reveals an outage: 80 % of one node dark, the rest of the batch normal.
    victim = n // size // 2
    node_accounts = accounts[victim * size : (victim + 1) * size]
    going = set(node_accounts[: int(size * 0.8)])
    at = T0 + 2 * POLL
    others = [a for a in accounts[: args.batch] if a not in set(node_accounts)]
    batch = [r for a in node_accounts for r in (_dark(a, at) if a in going else _good(a, at))]
    batch += [r for a in others[: args.batch - size] for r in _good(a, at)]
    dt, out = _timed(lambda: engine.observe(batch, at + 5))
    node_name = f"NODE-{victim:04d}"
    outage_flags = [(s.node, s.outage) for s in out.node_states]
    shown = {engine.verdict(a).verdict for a in node_accounts}  # type: ignore[union-attr]
    print(
        f"  observe: outage-revealing batch   {dt * 1000:8.1f} ms "
        f"({len(batch)} records, {out.judged} judged, {len(out.verdicts)} verdicts changed)"
    )
    print(f"    node flags {outage_flags}; verdicts on {node_name}: {sorted(shown)}")
    ok = outage_flags == [(node_name, True)] and shown == {"area_outage"}
    print(f"    every account of the node area_outage after this call: {ok} (target: within 2 s)")

    # The peer: a full recompute of every account (what a non-incremental engine does per batch).
    full_times = []
    for _ in range(3):
        d, _o = _timed(
            lambda: _full_recompute(engine, at + 6)  # type: ignore[arg-type]
        )
        full_times.append(d)
    full = statistics.median(full_times)
    print(
        f"  peer: full recompute of {n} accounts {full * 1000:8.1f} ms "
        f"-> incremental observe is {full / dt:5.1f}x faster"
    )

    # tick: nothing due, then 1 % of accounts going stale at once.
    idle = []
    for k in range(5):
        d, _o = _timed(lambda k=k: engine.tick(at + 10 + k))
        idle.append(d)
    print(f"  tick, nothing due                 {statistics.median(idle) * 1e6:8.1f} us")
    fresh = accounts[n // 100 :]
    start = time.perf_counter()
    for i in range(0, len(fresh), args.batch):
        engine.observe([r for a in fresh[i : i + args.batch] for r in _good(a, at + 600)], at + 605)
    engine.tick(at + 0.5 + 899)  # pops the deadlines the later polls moved on
    d, out = _timed(lambda: engine.tick(at + 0.5 + 900 + 1))
    stale = sum(v.verdict == "unknown" for v in out.verdicts)
    print(
        f"  tick, {n // 100} accounts going stale    {d * 1000:8.1f} ms "
        f"({out.judged} judged, {stale} now unknown)"
    )


def _full_recompute(engine: VerdictEngine, now: float) -> EngineOutput:
    out = EngineOutput()
    accounts = list(engine._accounts.values())
    for a in accounts:
        a.line_memo = None  # a recomputing engine re-runs every rule
    engine._judge_many(accounts, now, out)
    return out


if __name__ == "__main__":
    main()
