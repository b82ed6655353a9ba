"""One headend poll of a CMTS with N modems vs polling those N modems one by one.

The issue's target: one headend poll of a 2,000-modem CMTS (its per-modem
tables) costs at most a tenth of the CPU of polling the 2,000 modems.
Measured in the same run, each as this process's CPU (utime+stime) while the
responders run as their own processes:

- the headend: HeadendProbe against a synthetic CMTS (tests/headend_snmprec.py:
  N modems in docsIfCmtsCmStatusTable, docsIf3CmtsCmRegStatusTable and
  docsIf3CmtsCmUsStatusTable with ``--us-channels`` upstreams each,
  equalization data included), served by tests/table_responder.py (a BER
  responder like the modems' fleet; ``--responder snmpsim`` for snmpsim, which
  answers ~1 ms later and costs the poller more per request) at most
  ``--max-varbinds`` varbinds an answer, as a CMTS caps its answers. Twice:
  the built-in profile, and with the per-channel codewords it leaves out
  (CM_US_STATUS_EXTRA);
- the modems: SnmpProbe's DOCSIS poll (what the agent runs per modem) of N
  modems of the lab fleet (``linewatch lab fleet --technology docsis``),
  ``--window`` in flight.

    .venv/bin/python -m bench.bench_headend [--modems 2000] [--us-channels 4] [--rounds 3]

Prints the CPU figures (best of ``--rounds``), the ratios and the target
(<= 0.10, built-in profile) as met or missed. Bounded: each round has a deadline.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from probes.model import Headend, HeadendReading, SnmpReading, Target
from probes.snmp.headend import HeadendProbe
from probes.snmp.headend_profiles import (
    CM_US_STATUS_EXTRA,
    HeadendProfile,
    build_headend_profile,
    builtin_headend_profiles,
)
from probes.snmp.probe import SnmpCredentials, SnmpProbe

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
from headend_snmprec import synthetic_cmts  # noqa: E402 - tests/ holds the generator
from peers import run_snmpsim  # noqa: E402 - and the snmpsim launcher

TARGET_RATIO = 0.10
ROUND_LIMIT_S = 300.0
CMTS_HOST = "127.5.30.1"


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def cmts_responder(data: Path, kind: str, max_varbinds: int) -> Iterator[tuple[str, int]]:
    """(host, port) of the synthetic CMTS, community ``cmts``."""
    if kind == "snmpsim":
        with run_snmpsim({"cmts": data}, [CMTS_HOST]) as sim:
            yield sim.host, sim.port
        return
    proc = subprocess.Popen(
        [sys.executable, str(REPO / "tests" / "table_responder.py"), str(data),
         "--host", CMTS_HOST, "--community", "cmts", "--max-varbinds", str(max_varbinds)],
        stdout=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().split()
        if not line or line[0] != b"ready":
            raise SystemExit("the CMTS responder did not start")
        yield CMTS_HOST, int(line[1])
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def full_profile() -> HeadendProfile:
    """The built-in cmts profile plus the per-channel codewords it leaves out."""
    base = builtin_headend_profiles()["cmts"]
    extra = {f: spec for f, spec in CM_US_STATUS_EXTRA.items() if f != "equalization"}
    tables: dict[str, object] = {t: dict(cols) for t, cols in base.tables.items()}
    tables["cm_us_status"] = {**base.tables["cm_us_status"], **extra}
    return build_headend_profile("cmts-full", {"kind": "cmts", "tables": tables})


async def headend_cpu(
    host: str, port: int, modems: int, rounds: int, profile: HeadendProfile
) -> tuple[float, float]:
    """(best CPU seconds, wall seconds of that round) of one full headend poll."""
    best = (float("inf"), 0.0)
    async with HeadendProbe({"cmts": SnmpCredentials(community="cmts")},
                            profiles={profile.name: profile}, max_time_s=ROUND_LIMIT_S) as probe:
        headend = Headend(headend="cmts-bench", host=host, port=port, kind="cmts",
                          credentials="cmts", snmp_profile=profile.name)
        for _ in range(rounds + 1):  # the first round warms up (imports, caches)
            cpu0, wall0 = time.process_time(), time.perf_counter()
            reading = await probe.run(headend)
            cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
            if not isinstance(reading, HeadendReading) or len(reading.modems) != modems:
                raise SystemExit(f"headend poll failed: {str(reading)[:300]}")
            if reading.truncated or reading.problems.walk_errors:
                raise SystemExit(f"headend poll incomplete: {reading.problems}")
            best = min(best, (cpu, wall))
    return best


async def start_fleet(modems: int) -> tuple[asyncio.subprocess.Process, list[Target]]:
    from lab.fleet.layout import Layout

    port = free_port(socket.SOCK_DGRAM)
    nodes = max(modems // 250, 1)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "linewatch.cli", "lab", "fleet", "--modems", str(modems),
        "--nodes", str(nodes), "--port", str(port), "--technology", "docsis",
        "--control", f"127.0.0.1:{free_port()}", cwd=REPO,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    if not await asyncio.wait_for(proc.stdout.readline(), 60):
        raise SystemExit("the lab fleet did not start")
    layout = Layout(modems, nodes, 1, "127.20.0.0", port, technologies=("docsis",))
    return proc, [layout.target(i) for i in range(modems)]


async def modems_cpu(targets: list[Target], window: int, rounds: int) -> tuple[float, float]:
    """(best CPU seconds, wall seconds) of polling every target once with SnmpProbe."""
    best = (float("inf"), 0.0)
    async with SnmpProbe({"default": SnmpCredentials(community="public")},
                         timeout_s=2.0, retries=1) as probe:
        await probe.run(targets[0])  # warm the shape cache, as a running agent has it
        sem = asyncio.Semaphore(window)

        async def one(t: Target) -> bool:
            async with sem:
                return isinstance(await probe.run(t), SnmpReading)

        for _ in range(rounds):
            cpu0, wall0 = time.process_time(), time.perf_counter()
            results = await asyncio.wait_for(
                asyncio.gather(*(one(t) for t in targets)), ROUND_LIMIT_S
            )
            cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
            if sum(results) < len(targets) * 0.95:  # a loaded machine drops a few
                raise SystemExit(f"only {sum(results)} of {len(targets)} modem polls answered")
            best = min(best, (cpu, wall))
    return best


async def modems_round(modems: int, window: int, rounds: int) -> tuple[float, float]:
    proc, targets = await start_fleet(modems)
    try:
        return await modems_cpu(targets, window, rounds)
    finally:
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except TimeoutError:
            proc.kill()
            await proc.wait()


async def headend_rounds(
    host: str, port: int, modems: int, rounds: int, profiles: list[HeadendProfile]
) -> list[tuple[float, float]]:
    return [await headend_cpu(host, port, modems, rounds, p) for p in profiles]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modems", type=int, default=2000)
    parser.add_argument("--us-channels", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--window", type=int, default=200, help="modem polls in flight")
    parser.add_argument("--responder", choices=("table", "snmpsim"), default="table")
    parser.add_argument("--max-varbinds", type=int, default=64,
                        help="varbinds a CMTS answer holds at most (table responder)")
    args = parser.parse_args()

    synthetic = synthetic_cmts(args.modems, args.us_channels)
    profiles = [builtin_headend_profiles()["cmts"], full_profile()]
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp, "cmts.snmprec")
        data.write_text(synthetic.text)
        with cmts_responder(data, args.responder, args.max_varbinds) as (host, port):
            heads = asyncio.run(headend_rounds(host, port, args.modems, args.rounds, profiles))
    modem_cpu, modem_wall = asyncio.run(modems_round(args.modems, args.window, args.rounds))

    n = args.modems
    print(f"CMTS with {n} modems x {args.us_channels} upstream channels, served by "
          f"{args.responder} (<= {args.max_varbinds} varbinds an answer); best of "
          f"{args.rounds}:")
    print(f"  {n} modem polls (SnmpProbe, lab fleet)           {modem_cpu * 1000:8.1f} ms CPU "
          f"({modem_wall:.1f} s wall; {modem_cpu / n * 1e6:.0f} us a modem)")
    labels = ("one headend poll, built-in profile         ",
              "one headend poll, + per-channel codewords  ")
    for label, (cpu, wall) in zip(labels, heads, strict=True):
        print(f"  {label} {cpu * 1000:8.1f} ms CPU ({wall:.1f} s wall; "
              f"{cpu / n * 1e6:.0f} us a modem; ratio {cpu / modem_cpu:.3f})")
    ratio = heads[0][0] / modem_cpu
    verdict = "met" if ratio <= TARGET_RATIO else "MISSED"
    print(f"  headend / modems = {ratio:.3f}  (target <= {TARGET_RATIO:.2f}: {verdict})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
