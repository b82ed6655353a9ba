"""Collector ingest benchmark: readings/s through POST /v1/ingest, and how fast
a node outage shows through the API.

    .venv/bin/python -m bench.bench_ingest [--accounts 10000] [--batches 30] [--batch 2000]
        [--inflight 4] [--sqlite-writer process|thread] [--workload docsis16|fleet]

The collector runs as `linewatch collector serve` (a subprocess, SQLite) so the
load generator does not share its event loop.

Workloads (``--workload``): ``docsis16`` (the default, the heavy case) is
synthetic DOCSIS readings with 16 downstream channels each; ``fleet`` is real
readings: the lab fleet (``--fleet-modems`` modems, its mix of DOCSIS, DSL,
GPON and Ethernet CPE by node) polled once by SnmpProbe, exactly what an agent
sends, each reused for several accounts with new times.

(a) Ingest: SnmpReading records of the workload in batches of
    the agent's default size (``[agent] batch_max_records``, 2000), gzip as
    agents send them, ``--inflight`` pushes at a time (an agent pushes one
    batch at a time: 4 in flight = 4 agents). The whole
    pipeline: HTTP, gunzip, validation, store transaction, engine, verdict
    save. Peer measured in the same run on the same batches:
    ``SqliteStore.ingest_batch`` called directly (no HTTP, no engine, no
    verdicts) — the store floor the pipeline is built on. CPU: user+system
    seconds of the collector and its writer process (``sqlite_writer =
    "process"``) per 1,000 readings, from /proc — the figure that does not
    depend on what else loads the machine — and the rate that CPU allows when
    each process has a core to itself. Then the Python
    stages (gunzip, decode, history_point, engine.observe on a fresh engine)
    timed one by one in this process on the same bodies, per reading, to
    show where the collector's CPU goes.
(b) Outage: all accounts get a healthy reading; then one batch says 40 of a
    node's 50 modems are dark. Measured: from sending that batch until every
    one of the node's 50 accounts reads ``area_outage`` via
    GET /v1/accounts/{account}. Target <= 2 s.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import os
import random
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import zlib
from collections import Counter
from pathlib import Path

import aiohttp
import msgspec

from agent.config import AgentSection
from collector.keymetrics import history_point
from collector.store.sqlite import SqliteStore
from collector.verdicts import Thresholds, VerdictEngine
from probes.model import (
    Batch,
    DocsisLine,
    DownstreamChannel,
    PingResult,
    ProbeError,
    ProbeRecord,
    SnmpReading,
    Target,
    Technology,
    UpstreamChannel,
    decode_batch,
    encode,
)

REPO = Path(__file__).resolve().parent.parent
# The agent's default batch size: what a collector gets from a default agent.
BATCH = next(f.default for f in msgspec.structs.fields(AgentSection)
             if f.name == "batch_max_records")
PER_NODE = 50


def account(i: int) -> str:
    return f"acc-{i:06d}"


def snmp_record(acc: str, at: float, rng: random.Random) -> ProbeRecord:
    downstream = [
        DownstreamChannel(
            index=c, frequency_hz=300_000_000 + c * 8_000_000,
            power_dbmv=round(rng.uniform(-5, 5), 1), snr_db=round(rng.uniform(36, 40), 1),
            unerrored=rng.randrange(10**9), corrected=rng.randrange(10**4), uncorrectable=0,
        )
        for c in range(1, 17)
    ]
    return ProbeRecord(
        account=acc, probe="snmp", started_at=at, duration_s=0.1,
        result=SnmpReading(
            sys_uptime_s=86_400.0 + at % 1000,
            line=DocsisLine(downstream=downstream,
                            upstream=[UpstreamChannel(index=1, tx_power_dbmv=44.0)],
                            cm_status=12, t3_timeouts=0, t4_timeouts=0),
        ),
    )


async def fleet_readings(modems: int) -> list[tuple[Technology, SnmpReading]]:
    """(technology, reading) of each modem of a lab fleet, polled once by SnmpProbe."""
    from bench.bench_snmp import fleet_targets
    from probes.snmp.probe import SnmpCredentials, SnmpProbe

    started = await fleet_targets(modems)
    if started is None:
        raise SystemExit("the lab fleet did not start")
    proc, targets = started
    try:
        async with SnmpProbe(
            {"default": SnmpCredentials(community="public")}, timeout_s=2.0, retries=1
        ) as probe:
            window = asyncio.Semaphore(200)

            async def one(t: Target) -> tuple[Technology, SnmpReading | ProbeError]:
                async with window:
                    return t.technology, await probe.run(t)

            got = await asyncio.wait_for(asyncio.gather(*(one(t) for t in targets)), 300)
    finally:
        proc.terminate()
        await proc.wait()
    readings = [(tech, r) for tech, r in got if isinstance(r, SnmpReading)]
    if len(readings) < modems * 0.9:
        raise SystemExit(f"only {len(readings)} of {modems} fleet modems answered")
    return readings


def make_batch(records: list[ProbeRecord]) -> Batch:
    return Batch(batch_id=secrets.token_hex(12), agent="bench", sent_at=time.time(),
                 records=records)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cli(*args: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "linewatch.cli", *args], capture_output=True,
                          text=True, timeout=60, env=env, cwd=REPO, check=True)
    return done.stdout.strip()


async def _wait_healthy(url: str, proc: subprocess.Popen[bytes]) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(200):
            if proc.poll() is not None:
                raise SystemExit("collector exited during start")
            try:
                async with http.get(f"{url}/healthz") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise SystemExit("collector did not become healthy")


async def _push_all(http: aiohttp.ClientSession, url: str, bodies: list[bytes],
                    inflight: int) -> float:
    queue = list(reversed(bodies))

    async def worker() -> None:
        while queue:
            body = queue.pop()
            async with http.post(f"{url}/v1/ingest", data=body, headers={
                "Content-Type": "application/json", "Content-Encoding": "gzip"}) as resp:
                if resp.status != 200:
                    raise SystemExit(f"ingest answered {resp.status}: {await resp.text()}")

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(inflight)))
    return time.perf_counter() - started


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process, all threads (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    """Child processes of ``pid`` (the collector's SQLite writer process)."""
    kids: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        kids += [int(k) for k in (task / "children").read_text().split()]
    return kids


def _stages(bodies: list[bytes], targets: list[Target]) -> dict[str, float]:
    """CPU per reading of the pipeline's Python stages, one after another in
    this process (no HTTP, no store): where the collector spends its GIL."""
    engine = VerdictEngine(Thresholds.default(), targets)
    spent = {"inflate": 0.0, "decode": 0.0, "history_point": 0.0, "engine.observe": 0.0}
    n = 0
    for body in bodies:
        t0 = time.perf_counter()
        raw = zlib.decompress(body, 31)
        t1 = time.perf_counter()
        batch = decode_batch(raw)
        t2 = time.perf_counter()
        for r in batch.records:
            history_point(r)
        t3 = time.perf_counter()
        engine.observe(batch.records, time.time())
        t4 = time.perf_counter()
        for k, a, b in (("inflate", t0, t1), ("decode", t1, t2), ("history_point", t2, t3),
                        ("engine.observe", t3, t4)):
            spent[k] += b - a
        n += len(batch.records)
    return {k: v / n * 1e6 for k, v in spent.items()}


async def _peer(batches: list[Batch], tmp: Path) -> float:
    store = SqliteStore(str(tmp / "peer.db"))
    await store.start()
    try:
        started = time.perf_counter()
        for b in batches:
            history = [p for r in b.records if (p := history_point(r)) is not None]
            await store.ingest_batch(b.batch_id, b.agent, time.time(), b.records, history)
        return time.perf_counter() - started
    finally:
        await store.stop()


def start_collector(tmp: Path, sqlite_writer: str = "process"
                    ) -> tuple[subprocess.Popen[bytes], str, str]:
    """`linewatch collector serve` on a free port; returns (process, url, admin token)."""
    db = str(tmp / "collector.db")
    admin = _cli("token", "create", "--role", "admin", "--name", "bench-admin", "--db", db)
    port = _free_port()
    config = tmp / "collector.toml"
    config.write_text(f'sqlite_writer = "{sqlite_writer}"\n')
    with open(tmp / "collector.log", "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "linewatch.cli", "collector", "serve", "--db", db,
             "--listen", f"127.0.0.1:{port}", "--config", str(config)], cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=log, stderr=subprocess.STDOUT,
        )
    return proc, f"http://127.0.0.1:{port}", admin


async def main_async(args: argparse.Namespace, proc: subprocess.Popen[bytes], url: str,
                     admin: str, tmp: Path) -> None:
    rng = random.Random(7)
    await _wait_healthy(url, proc)
    headers = {"Authorization": f"Bearer {admin}"}
    async with aiohttp.ClientSession(headers=headers) as http:
        fleet = await fleet_readings(args.fleet_modems) if args.workload == "fleet" else []
        targets = [
            Target(account=account(i), host=f"127.21.{i // 250}.{i % 250 + 1}",
                   technology=fleet[i % len(fleet)][0] if fleet else "docsis",
                   node=f"N-{i // PER_NODE:04d}", plan_down_mbps=250.0, plan_up_mbps=25.0)
            for i in range(args.accounts)
        ]

        def reading(i: int, at: float) -> ProbeRecord:
            acc = account(i)
            if not fleet:
                return snmp_record(acc, at, rng)
            return ProbeRecord(account=acc, probe="snmp", started_at=at, duration_s=0.1,
                               result=fleet[i % len(fleet)][1])
        async with http.put(f"{url}/v1/inventory", data=encode(targets),  # type: ignore[arg-type]
                            headers={"Content-Type": "application/json"}) as resp:
            assert resp.status == 200, await resp.text()

        # (a) ingest throughput
        now = time.time()
        batches = []
        size = args.batch
        for b in range(args.batches):
            at = now - 30 + b * 0.01
            records = [reading((b * size + j) % args.accounts, at) for j in range(size)]
            batches.append(make_batch(records))
        bodies = [gzip.compress(encode(b), 5) for b in batches]
        mix = Counter(t.technology for t in targets)
        json_bytes = sum(len(encode(r)) for r in batches[0].records) / len(batches[0].records)
        print(f"workload {args.workload}: " + ", ".join(f"{k} {v}" for k, v in sorted(mix.items()))
              + f" accounts; {json_bytes:,.0f} bytes of JSON a reading"
              + (f" (real readings of {len(fleet)} fleet modems)" if fleet else ""))
        readings = args.batches * size
        writers = _children(proc.pid)
        cpu0, own0 = _cpu_s(proc.pid), time.process_time()
        wcpu0 = sum(_cpu_s(w) for w in writers)
        elapsed = await _push_all(http, url, bodies, args.inflight)
        cpu, own = _cpu_s(proc.pid) - cpu0, time.process_time() - own0
        wcpu = sum(_cpu_s(w) for w in writers) - wcpu0
        peer = await _peer(batches, tmp)
        rate, peer_rate = readings / elapsed, readings / peer
        print(f"ingest via HTTP (gzip, validate, store, engine, verdicts): "
              f"{rate:,.0f} readings/s ({readings} in {elapsed:.2f} s, batches of {size}, "
              f"{args.inflight} in flight, sqlite_writer={args.sqlite_writer})")
        print(f"peer SqliteStore.ingest_batch direct:                      "
              f"{peer_rate:,.0f} readings/s ({peer:.2f} s)")
        ratio = rate / peer_rate
        print(f"ratio pipeline/peer: {ratio:.2f} (issue 18 target >= 0.70: "
              + ("met)" if ratio >= 0.7 else f"MISSED, {0.7 / ratio:.2f}x short)"))
        print(f"collector CPU-s per 1,000 readings: {(cpu + wcpu) / readings * 1e3:.4f} "
              f"(main {cpu / readings * 1e3:.4f} at {cpu / elapsed:.2f} cores, writer process "
              f"{wcpu / readings * 1e3:.4f} at {wcpu / elapsed:.2f} cores); this load "
              f"generator {own / readings * 1e3:.4f}")
        busiest = max(cpu, wcpu) / readings
        print(f"CPU-bound ceiling with a core each for collector and writer (no other load): "
              f"{1 / busiest:,.0f} readings/s (1 / the busier process's CPU per reading; "
              f"thread mode: one GIL-bound process)")
        stages = _stages(bodies, targets)
        print("in-process stages, us per reading: "
              + ", ".join(f"{k} {v:.1f}" for k, v in stages.items())
              + f" (sum {sum(stages.values()):.1f}; the store peer above: "
              f"{1e6 / peer_rate:.1f})")

        # (b) outage visible through the API
        node = [account(i) for i in range(PER_NODE)]
        healthy = [snmp_record(a, time.time(), rng) for a in node]
        healthy += [ProbeRecord(account=a, probe="ping", started_at=time.time(),
                                duration_s=1.0, result=PingResult(sent=5, received=5))
                    for a in node]
        await _push_all(http, url, [gzip.compress(encode(make_batch(healthy)))], 1)
        at = time.time()
        dark: list[ProbeRecord] = []
        for a in node[: int(PER_NODE * 0.8)]:
            dark.append(ProbeRecord(account=a, probe="snmp", started_at=at, duration_s=3.0,
                                    result=ProbeError(kind="timeout")))
            dark.append(ProbeRecord(account=a, probe="ping", started_at=at, duration_s=1.0,
                                    result=PingResult(sent=5, received=0)))
        body = gzip.compress(encode(make_batch(dark)))
        started = time.perf_counter()
        await _push_all(http, url, [body], 1)
        pushed = time.perf_counter() - started
        pending = set(node)
        for _ in range(400):  # bounded: at most ~20 s
            for a in list(pending):
                async with http.get(f"{url}/v1/accounts/{a}") as resp:
                    if (await resp.json())["verdict"]["verdict"] == "area_outage":
                        pending.discard(a)
            if not pending:
                break
            await asyncio.sleep(0.05)
        visible = time.perf_counter() - started
        state = "all" if not pending else f"{PER_NODE - len(pending)} of"
        print(f"outage batch answered in {pushed * 1000:.0f} ms; {state} {PER_NODE} "
              f"accounts read area_outage via the API after {visible * 1000:.0f} ms "
              f"(target <= 2000 ms, ratio {visible / 2.0:.2f} of target)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--batch", type=int, default=BATCH, help="records per batch")
    parser.add_argument("--sqlite-writer", choices=("process", "thread"), default="process")
    parser.add_argument("--inflight", type=int, default=4)
    parser.add_argument("--workload", choices=("docsis16", "fleet"), default="docsis16")
    parser.add_argument("--fleet-modems", type=int, default=2000,
                        help="modems of the lab fleet polled for --workload fleet")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="lw-bench-ingest-"))
    proc, url, admin = start_collector(tmp, args.sqlite_writer)
    try:
        asyncio.run(main_async(args, proc, url, admin, tmp))
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
