"""From a headend poll showing a node dark to ``area_outage`` on every account of the node.

The issue's target: a node outage seen by a headend poll shows ``area_outage``
on every affected account within 2 s of that poll. Measured end to end on
real parts: the lab fleet (in this process; every node DOCSIS, each with its
CMTS, lab/fleet/headends.py), a collector process on SQLite, and the real
HeadendProbe. Each round injects ``node_outage`` on a fresh node, polls that
node's CMTS over SNMP (every modem offline), pushes the reading as an agent
does (``POST /v1/ingest``, gzip) and then reads ``GET /v1/nodes`` until the
node counts every account ``area_outage``: the time runs from the push (the
reading arriving at the collector) to that answer. Then every account of the
node is read through ``GET /v1/accounts/{a}`` and must say ``area_outage``
(that sweep's time is printed too: with 2,000 accounts it is most of a second
of HTTP, not of judging). The headend poll itself is printed beside it. Before the rounds every
modem is polled once and pushed (all healthy), and every CMTS once.

    .venv/bin/python -m bench.bench_headend_outage [--modems 500] [--nodes 10] [--rounds 5]

Bounded: ``--rounds`` (at most ``--nodes``), each round within ROUND_LIMIT_S.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from agent.headends import line_indexes
from bench.bench_ingest import _cli, _wait_healthy, make_batch, start_collector
from lab.fleet import Fleet
from probes.model import HeadendReading, ProbeError, ProbeRecord, SnmpReading, Target, encode
from probes.snmp.headend import HeadendProbe
from probes.snmp.probe import SnmpCredentials, SnmpProbe

TARGET_S = 2.0
ROUND_LIMIT_S = 20.0
WARMUP_WINDOW = 200  # modem polls in flight while warming up (the fleet is in this process)
BASE = "127.26.0.0"  # fleet tests use 127.2x; this bench's own block


async def _push(http: aiohttp.ClientSession, url: str, records: list[ProbeRecord]) -> None:
    body = gzip.compress(encode(make_batch(records)))
    async with http.post(f"{url}/v1/ingest", data=body, headers={
            "Content-Type": "application/json", "Content-Encoding": "gzip"}) as resp:
        if resp.status != 200:
            raise SystemExit(f"ingest answered {resp.status}: {await resp.text()}")


async def _verdicts(http: aiohttp.ClientSession, url: str, accounts: list[str]) -> list[str]:
    async def one(a: str) -> str:
        async with http.get(f"{url}/v1/accounts/{a}") as resp:
            return str((await resp.json())["verdict"]["verdict"])

    return list(await asyncio.gather(*(one(a) for a in accounts)))


async def _node_count(http: aiohttp.ClientSession, url: str, node: str) -> int:
    """How many of the node's accounts the collector counts area_outage."""
    async with http.get(f"{url}/v1/nodes") as resp:
        nodes = (await resp.json())["nodes"]
    return sum(int(n["counts"].get("area_outage", 0)) for n in nodes if n["node"] == node)


async def run(args: argparse.Namespace, url: str, admin: str, agent: str) -> None:
    fleet = Fleet(modems=args.modems, nodes=args.nodes, port=0, base_address=BASE,
                  technologies=("docsis",))
    await fleet.start()
    creds = {"default": SnmpCredentials(version="2c", community="public")}
    try:
        targets = fleet.targets()
        heads = fleet.headend_inventory()
        lines = line_indexes(heads, targets)
        by_node: dict[str, list[str]] = {}
        for t in targets:
            by_node.setdefault(t.node, []).append(t.account)
        async with aiohttp.ClientSession() as http, SnmpProbe(creds, timeout_s=2.0,
                                                              retries=1) as snmp:
            admin_h = {"Authorization": f"Bearer {admin}"}
            for body, kind in ((fleet.inventory_csv(), "lines"), (fleet.headends_csv(),
                                                                   "headends")):
                async with http.put(f"{url}/v1/inventory", data=body, headers={
                        **admin_h, "Content-Type": "text/csv"}) as resp:
                    if resp.status != 200:
                        raise SystemExit(f"{kind} import: {resp.status} {await resp.text()}")
            probe = HeadendProbe(snmp, timeout_s=2.0, retries=1)
            agent_http = aiohttp.ClientSession(headers={"Authorization": f"Bearer {agent}"})
            reader = aiohttp.ClientSession(headers=admin_h)
            try:
                async def poll(i: int) -> ProbeRecord:
                    h = heads[i]
                    at = time.time()
                    reading = await probe.run(h, lines[h.headend])
                    return ProbeRecord(account=h.headend, probe="headend", started_at=at,
                                       duration_s=time.time() - at, result=reading)

                # Warm-up: every modem healthy once, every CMTS once.
                now = time.time()
                window = asyncio.Semaphore(WARMUP_WINDOW)

                async def one(t: Target) -> SnmpReading | ProbeError:
                    async with window:
                        return await snmp.run(t)

                results = await asyncio.gather(*(one(t) for t in targets))
                await _push(agent_http, url, [
                    ProbeRecord(account=t.account, probe="snmp", started_at=now,
                                duration_s=0.1, result=r) for t, r in zip(targets, results,
                                                                          strict=True)])
                await _push(agent_http, url, list(await asyncio.gather(
                    *(poll(i) for i in range(len(heads))))))
                before = await _verdicts(reader, url, [t.account for t in targets])
                print(f"{args.modems} modems on {args.nodes} nodes, each node's CMTS in the "
                      f"fleet; before the rounds: {before.count('ok')} ok, "
                      f"{before.count('area_outage')} area_outage")

                figures: list[float] = []
                polls: list[float] = []
                for rnd in range(min(args.rounds, len(heads))):
                    h = heads[rnd]
                    node = h.nodes[0]
                    accounts = by_node[node]
                    fleet.inject("node_outage", node=node)
                    t_poll = time.perf_counter()
                    rec = await poll(rnd)
                    polls.append(time.perf_counter() - t_poll)
                    res = rec.result
                    if not isinstance(res, HeadendReading):
                        raise SystemExit(f"{h.headend} did not answer: {res}")
                    offline = sum(m.reg_status == "other" for m in res.modems)
                    started = time.perf_counter()
                    await _push(agent_http, url, [rec])
                    pushed = time.perf_counter() - started
                    counted = 0
                    while time.perf_counter() - started < ROUND_LIMIT_S:
                        counted = await _node_count(reader, url, node)
                        if counted >= len(accounts):
                            break
                        await asyncio.sleep(0.01)
                    took = time.perf_counter() - started
                    if counted < len(accounts):
                        raise SystemExit(f"round {rnd + 1}: only {counted} of {len(accounts)} "
                                         f"accounts area_outage after {took:.1f} s")
                    swept = time.perf_counter()
                    seen = await _verdicts(reader, url, accounts)
                    sweep = time.perf_counter() - swept
                    if seen.count("area_outage") != len(accounts):
                        raise SystemExit(f"round {rnd + 1}: /v1/nodes counted {counted}, the "
                                         f"accounts say {sorted(set(seen))}")
                    figures.append(took)
                    print(f"round {rnd + 1}: {h.headend} poll {polls[-1] * 1000:.0f} ms "
                          f"({offline} of {len(res.modems)} modems offline); ingest answered "
                          f"in {pushed * 1000:.0f} ms; area_outage on all {len(accounts)} "
                          f"accounts after {took * 1000:.0f} ms (each account read back: "
                          f"{sweep * 1000:.0f} ms more)")
            finally:
                await agent_http.close()
                await reader.close()
        worst = max(figures)
        print(f"headend poll -> area_outage on every account of the node: median "
              f"{statistics.median(figures) * 1000:.0f} ms, worst {worst * 1000:.0f} ms over "
              f"{len(figures)} rounds (target <= {TARGET_S * 1000:.0f} ms: "
              f"{'met' if worst <= TARGET_S else 'missed'}, worst/target {worst / TARGET_S:.3f})")
    finally:
        await fleet.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modems", type=int, default=500)
    parser.add_argument("--nodes", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    if not 1 <= args.rounds <= args.nodes:
        parser.error("--rounds must be between 1 and --nodes")
    with tempfile.TemporaryDirectory(prefix="lw-bench-outage-") as tmp:
        proc, url, admin = start_collector(Path(tmp))
        agent = _cli("token", "create", "--role", "agent", "--name", "bench-agent",
                     "--db", str(Path(tmp) / "collector.db")).splitlines()[-1]
        try:
            asyncio.run(_wait_healthy(url, proc))
            asyncio.run(run(args, url, admin.splitlines()[-1], agent))
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    sys.stdout.flush()


if __name__ == "__main__":
    main()
