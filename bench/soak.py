"""Soak: a simulated fleet with random faults and collector restarts; at the
end nothing is lost or duplicated, memory is flat and every verdict is right.

    .venv/bin/python -m bench.soak --modems 10000 --duration 600      # on demand
    .venv/bin/python -m bench.soak --real-links 6 ...       # as root: 6 on real links
    (tests/test_soak.py runs a CI-sized one: 1,000 modems for 90 s, 6 on real links)

Real processes throughout (tests/stack.py): the lab fleet, a collector on
SQLite and an agent polling over SNMP with ping off (the kernel answers ICMP
for every 127.x address, even a "dead" modem's). A seeded RNG injects and
clears faults through the fleet's control API; the collector is restarted
twice, once with SIGTERM and once with SIGKILL. Then every fault is cleared, a
known final set is injected, and the driver waits for the verdicts:
- exactly once: records the agent accepted == records in batches the collector
  confirmed; the agent's ledger of batch ids == the collector's; no history
  row stored twice; nothing left in the spool;
- RSS of agent, collector and its SQLite writer process after warm-up and at
  the end;
- the verdict of *every* account equals what its final fault implies.

Part of the modems can sit on real links (``--real-links N``, root; the CI soak
does it as root): N modem addresses in a network namespace behind a veth,
answered by snmpsim serving recordings of real devices (tests/real_links.py).
One of them loses its address after warm-up and stays dark: the kernel then
reports it (its neighbour entry fails, sends end in host unreachable) while the
agent keeps polling a thousand simulated modems. Its verdict must be
equipment_fault, the others' their recording's; the others must be answered on
schedule (no gap over two intervals in the collector's history), and the
agent's kernel-error counters are reported.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import random
import re
import signal
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))  # the real-process harness lives with the tests

from real_links import (  # noqa: E402
    RECORDINGS,
    Faults,
    add_modems,
    recordings,
    shared_recordings,
)
from stack import Stack, http_json  # noqa: E402

from lab.netns import NetnsLab  # noqa: E402

REAL_LINKS_NODE = "real-links"

# Faults the soak injects at random, and the verdict each one implies for the
# affected account(s) once the engine has seen it (DESIGN.md verdict table).
RANDOM_KINDS = {
    "node_outage": "area_outage",
    "dead_modem": "equipment_fault",
    "lan_down": "equipment_fault",
    "snr_drop": "line_fault",
    "ds_power": "line_fault",
    "uncorrectables": "line_fault",
    "dsl_margin": "line_fault",
    "gpon_rx_low": "line_fault",
}
# Technologies each fault is injected on (absent: all). lan_down leaves out the
# Ethernet CPE: its LAN and WAN ports are both ethernetCsmacd, so the reading
# cannot tell which one is down (a known limit, see the README's Soak section).
FAULT_TECH: dict[str, frozenset[str]] = {
    "snr_drop": frozenset({"docsis"}), "ds_power": frozenset({"docsis"}),
    "uncorrectables": frozenset({"docsis"}), "dsl_margin": frozenset({"dsl"}),
    "gpon_rx_low": frozenset({"gpon"}), "lan_down": frozenset({"docsis", "dsl", "gpon"}),
}


@dataclass
class RealLinks:
    """Modems on real links beside the simulated fleet (``make_real_links()`` builds them)."""

    csv: str  # their inventory (header included), credentials named by recording
    agent_tail: str  # the agent's [credentials.NAME] for those recordings
    expected: dict[str, str]  # account -> its verdict at the end
    dark: str  # the account that loses its address after warm-up
    take_dark: Callable[[], None]  # does it (blocking; called from the soak's thread)


@dataclass
class SoakResult:
    modems: int
    duration_s: float
    interval_s: float
    faults_injected: dict[str, int] = field(default_factory=dict)
    faults_cleared: int = 0
    restarts: list[str] = field(default_factory=list)
    accepted: int = 0
    delivered: int = 0
    held_in_spool: int = 0
    batches_agent: int = 0
    batches_collector: int = 0
    batch_ids_equal: bool = False
    history_rows: int = 0
    history_distinct: int = 0
    rss_start_mb: dict[str, float] = field(default_factory=dict)
    rss_end_mb: dict[str, float] = field(default_factory=dict)
    accounts_checked: int = 0
    wrong_verdicts: dict[str, tuple[str, str]] = field(default_factory=dict)
    verdicts_settled_s: float = 0.0
    real_link_modems: int = 0
    real_link_answers: dict[str, int] = field(default_factory=dict)  # healthy: SNMP answers
    real_link_longest_gap_s: float = 0.0  # healthy ones, after warm-up
    real_link_dark_result: str = ""  # the dark one's latest SNMP result at the end
    net_errors: dict[str, float] = field(default_factory=dict)  # agent's, "probe/kind"

    def problems(self, rss_factor: float = 1.5, rss_slack_mb: float = 30.0) -> list[str]:
        out = []
        if self.held_in_spool:
            out.append(f"{self.held_in_spool} records never left the spool")
        if self.delivered != self.accepted:
            out.append(f"accepted {self.accepted} but delivered {self.delivered}")
        if not self.batch_ids_equal:
            out.append(f"batch ids differ: agent {self.batches_agent}, "
                       f"collector {self.batches_collector}")
        if self.history_rows != self.history_distinct:
            out.append(f"{self.history_rows - self.history_distinct} history rows stored twice")
        for name, start in self.rss_start_mb.items():
            end = self.rss_end_mb.get(name, 0.0)
            if end > start * rss_factor + rss_slack_mb:
                out.append(f"{name} RSS grew {start:.0f} -> {end:.0f} MB")
        if self.real_link_longest_gap_s > 2 * self.interval_s:
            out.append(f"a real-link modem went {self.real_link_longest_gap_s:.0f} s "
                       "without an SNMP answer")
        if self.wrong_verdicts:
            sample = dict(list(self.wrong_verdicts.items())[:10])
            out.append(f"{len(self.wrong_verdicts)} wrong verdicts (account: got, want): {sample}")
        return out


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _rss(stack: Stack) -> dict[str, float]:
    assert stack.agent is not None and stack.collector.proc is not None
    out = {"agent": _rss_mb(stack.agent.proc.pid),
           "collector": _rss_mb(stack.collector.proc.pid)}
    writers = _children(stack.collector.proc.pid)
    if writers:
        out["sqlite_writer"] = sum(_rss_mb(p) for p in writers)
    return out


def _control(stack: Stack, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    req = urllib.request.Request(
        f"http://{stack.control}{path}", method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        raw = resp.read()
    return json.loads(raw) if raw else None


def _collector_config(tmp: Path) -> Path:
    """Hysteresis, the reboot-loop window, the plant-fault hold and the pre-dark
    trend window shortened to soak time (production defaults: 600, 3600, 600 and
    1800 s), so a fault cleared mid-soak is over by the end."""
    path = tmp / "collector.toml"
    path.write_text(
        "[outage]\nclear_hold_s = 5.0\nwindow_s = 60.0\n\n"
        "[thresholds.overrides.reboot]\nloop_window_s = 20.0\n\n"
        "[thresholds.overrides.plant]\nclear_hold_s = 5.0\n\n"
        "[thresholds.overrides.trend]\nwindow_s = 30.0\n"
    )
    return path


def _verdicts(stack: Stack, accounts: list[str]) -> dict[str, str]:
    out = {}
    for account in accounts:
        status, answer = http_json("GET", f"{stack.collector.url}/v1/accounts/{account}",
                                   stack.support_token)
        out[account] = answer["verdict"]["verdict"] if status == 200 else f"http {status}"
    return out


async def make_real_links(lab: NetnsLab, count: int, shared: Path | None) -> RealLinks:
    """``count`` modems in one namespace behind a veth, on a node of their own,
    answered by snmpsim serving recordings whose levels are in spec (a DOCSIS
    modem's from ../shared/snmprec when ``shared`` is given, snmpsim's Linux
    walk); the first goes dark after warm-up (``take_dark``, from any thread,
    while this event loop runs)."""
    communities = sorted(c for c in recordings(shared) if RECORDINGS[c][2] == "ok")
    group = [(f"RL-{k:03d}", communities[k % len(communities)]) for k in range(count)]
    # Brisk ARP timers on that link: a failed resolution ends within the soak agent's
    # 1 s SNMP timeout, so the dark modem's polls end in host unreachable.
    modems = await add_modems(lab, [group], shared, quick_arp=True)
    faults = Faults(lab)  # an address removed in the namespace leaves nothing on the host
    loop = asyncio.get_running_loop()
    dark = group[0][0]

    def take_dark() -> None:
        asyncio.run_coroutine_threadsafe(
            faults.inject("addr_gone", modems[dark]), loop).result(timeout=60)

    rows = ["account,host,technology,node,plan_down_mbps,plan_up_mbps,credentials"]
    rows += [f"{name},{modems[name].addr},{modems[name].technology},{REAL_LINKS_NODE},"
             f"100,20,{community}" for name, community in group]
    tail = "".join(f'\n[credentials.{c}]\nversion = "2c"\ncommunity = "{c}"\n'
                   for c in communities)
    expected = {name: RECORDINGS[community][2] for name, community in group}
    expected[dark] = "equipment_fault"  # alone dark on its node, clean readings before
    return RealLinks(csv="\n".join(rows) + "\n", agent_tail=tail, expected=expected,
                     dark=dark, take_dark=take_dark)


def _net_errors(stack: Stack) -> dict[str, float]:
    """The agent's non-zero linewatch_agent_net_errors_total, as {"probe/kind": n}."""
    with urllib.request.urlopen(f"http://{stack.agent_host}:{stack.metrics_port}/metrics",
                                timeout=5) as resp:
        text = resp.read().decode()
    out = {}
    for line in text.splitlines():
        m = re.match(r'^linewatch_agent_net_errors_total\{([^}]*)\}\s+(\S+)$', line)
        if m and float(m.group(2)):
            labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
            out[f"{labels.get('probe')}/{labels.get('kind')}"] = float(m.group(2))
    return out


def _real_link_answers(stack: Stack, accounts: list[str], since: float,
                       until: float) -> tuple[dict[str, int], float]:
    """SNMP answers per account from the collector's history, and the longest
    stretch of [since, until] any of them went without one."""
    counts: dict[str, int] = {}
    longest = 0.0
    for account in accounts:
        status, answer = http_json(
            "GET", f"{stack.collector.url}/v1/accounts/{account}/history"
            f"?since={since:.3f}&until={until + 60:.3f}", stack.support_token)
        assert status == 200, answer
        answered = sorted(p["at"] for p in answer["readings"]
                          if p["metrics"].get("reachable") == 1.0
                          and "ping_loss_ratio" not in p["metrics"]
                          and since <= p["at"] <= until)
        counts[account] = len(answered)
        edges = [since, *answered, until]
        longest = max(longest, *(b - a for a, b in itertools.pairwise(edges)))
    return counts, round(longest, 1)


def run_soak(tmp: Path, modems: int, duration_s: float, *, seed: int = 7,
             interval_s: float = 10.0, log: Any = print,
             real_links: RealLinks | None = None) -> SoakResult:
    rng = random.Random(seed)
    nodes = max(3, modems // 100)
    result = SoakResult(modems=modems, duration_s=duration_s, interval_s=interval_s)
    stack = Stack(tmp, modems=modems, nodes=nodes, ping=False, interval_s=interval_s,
                  collector_args=["--config", str(_collector_config(tmp))],
                  agent_tail=real_links.agent_tail if real_links else "")
    try:
        if real_links is not None:
            status, answer = http_json("PUT", f"{stack.collector.url}/v1/inventory",
                                       stack.admin_token, real_links.csv.encode(), "text/csv")
            assert status == 200, answer
            result.real_link_modems = len(real_links.expected)
        return _run(stack, rng, result, log, real_links)
    finally:
        stack.close()


def _run(stack: Stack, rng: random.Random, result: SoakResult, log: Any,
         real_links: RealLinks | None = None) -> SoakResult:
    targets = stack.targets
    by_node: dict[str, list[Any]] = {}
    for t in targets:
        by_node.setdefault(t.node, []).append(t)
    stack.start_agent()
    stack.wait_metric('linewatch_agent_pushes_total{outcome="ok"}', 1, timeout_s=60)
    time.sleep(result.interval_s * 1.5)  # warm-up: every modem polled, caches full
    result.rss_start_mb = _rss(stack)
    log(f"soak: {result.modems} modems on {len(by_node)} nodes, every {result.interval_s:g} s; "
        f"RSS after warm-up {result.rss_start_mb}")
    warm = time.time()
    if real_links is not None:
        real_links.take_dark()  # and dark it stays, to the end
        log(f"soak: {result.real_link_modems} modems on real links; {real_links.dark} "
            "lost its address")

    injected: Counter[str] = Counter()
    active: list[str] = []
    touched: set[str] = set()  # accounts given a fault in the random phase
    restarts = [rng.uniform(0.2, 0.45) * result.duration_s,
                rng.uniform(0.55, 0.8) * result.duration_s]
    kinds_of_restart = [signal.SIGTERM, signal.SIGKILL]
    step_s = max(2.0, result.duration_s / 40)
    started = time.monotonic()
    while (elapsed := time.monotonic() - started) < result.duration_s:
        if restarts and elapsed >= restarts[0]:
            restarts.pop(0)
            sig = kinds_of_restart.pop(0)
            stack.collector.stop(sig)
            time.sleep(rng.uniform(1.0, 4.0))  # the agent spools meanwhile
            stack.collector.start()
            result.restarts.append(f"{sig.name} at {elapsed:.0f} s")
            log(f"soak: collector restarted after {sig.name} at {elapsed:.0f} s")
        if active and rng.random() < 0.35:
            fault_id = active.pop(rng.randrange(len(active)))
            _control(stack, "DELETE", f"/faults/{fault_id}")
            result.faults_cleared += 1
        else:
            kind = rng.choice(sorted(RANDOM_KINDS))
            if kind == "node_outage":
                body: dict[str, Any] = {"kind": kind, "node": rng.choice(sorted(by_node))}
            else:
                tech = FAULT_TECH.get(kind)
                pool = [t for t in targets if tech is None or t.technology in tech]
                body = {"kind": kind, "account": rng.choice(pool).account}
                touched.add(body["account"])
            fault = _control(stack, "POST", "/faults", body)
            active.append(fault["id"])
            injected[kind] += 1
        time.sleep(step_s)
    result.faults_injected = dict(injected)

    # The final, known state: everything cleared, then one fault of each kind.
    _control(stack, "DELETE", "/faults")
    result.faults_cleared += len(active)
    expected = {t.account: "ok" for t in targets}
    if real_links is not None:
        expected.update(real_links.expected)
    node_names = sorted(by_node)
    outage_node = node_names[0]
    _control(stack, "POST", "/faults", {"kind": "node_outage", "node": outage_node})
    injected["node_outage"] += 1
    for t in by_node[outage_node]:
        expected[t.account] = "area_outage"
    others = [t for n in node_names[1:] for t in by_node[n]]
    rng.shuffle(others)
    # Final faults go to modems the random phase left alone: a modem dark after an
    # SNR fault is rightly a line fault (its history says so), not what "dead_modem"
    # alone implies; and one final fault per node, so two dark modems on one node
    # are not (rightly) one plant fault.
    used: set[str] = set(touched)
    used_nodes: set[str] = set()
    for kind, verdict in RANDOM_KINDS.items():
        if kind == "node_outage":
            continue
        tech = FAULT_TECH.get(kind)
        pick = next((t for t in others if t.account not in used and t.node not in used_nodes
                     and (tech is None or t.technology in tech)), None)
        if pick is None:
            pick = next((t for t in others if t.account not in used
                         and (tech is None or t.technology in tech)), None)
        if pick is None:
            continue  # no modem of that technology in a small fleet
        used.add(pick.account)
        used_nodes.add(pick.node)
        _control(stack, "POST", "/faults", {"kind": kind, "account": pick.account})
        injected[kind] += 1
        expected[pick.account] = verdict
    result.faults_injected = dict(injected)

    settle_started = time.monotonic()
    deadline = settle_started + max(90.0, result.interval_s * 6)
    wrong: dict[str, tuple[str, str]] = {}
    pending = sorted(expected)
    while time.monotonic() < deadline:
        time.sleep(result.interval_s)
        seen = _verdicts(stack, pending)
        wrong = {a: (v, expected[a]) for a, v in seen.items() if v != expected[a]}
        pending = sorted(wrong)
        if not wrong:
            break
    result.verdicts_settled_s = time.monotonic() - settle_started
    result.wrong_verdicts = wrong
    result.accounts_checked = len(expected)
    result.rss_end_mb = _rss(stack)
    result.net_errors = _net_errors(stack)
    if real_links is not None:
        healthy = sorted(a for a in real_links.expected if a != real_links.dark)
        result.real_link_answers, result.real_link_longest_gap_s = _real_link_answers(
            stack, healthy, warm, time.time())
        status, answer = http_json("GET", f"{stack.collector.url}/v1/accounts/"
                                   f"{real_links.dark}", stack.support_token)
        last = answer.get("latest", {}).get("snmp", {}).get("result", {}) if status == 200 else {}
        result.real_link_dark_result = f"{last.get('kind')}: {last.get('message')}"

    assert stack.stop_agent() == 0, "the agent did not stop cleanly"
    accepted, held, ledger = stack.spool_state()
    confirmed = [b for b in ledger if b[2] in ("ok", "duplicate")]
    collector_batches = stack.collector.batch_ids()
    result.accepted = accepted
    result.held_in_spool = held
    result.delivered = sum(n for _, n, _ in confirmed)
    result.batches_agent = len({b for b, _, _ in ledger})
    result.batches_collector = len(collector_batches)
    result.batch_ids_equal = {b for b, _, _ in ledger} == collector_batches
    result.history_rows, result.history_distinct = stack.history_rows()
    log(f"soak result: {json.dumps(asdict(result), default=str)}")
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--modems", type=int, default=10_000)
    parser.add_argument("--duration", type=float, default=600.0, help="seconds of faults")
    parser.add_argument("--interval", type=float, default=60.0, help="agent poll interval, s")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--dir", help="keep the run's files here (default: a temp dir)")
    parser.add_argument("--real-links", type=int, default=0, metavar="N",
                        help="N more modems on real links (netns + snmpsim; root)")
    args = parser.parse_args()
    import tempfile

    async def with_real_links(where: Path) -> SoakResult:
        async with NetnsLab() as lab:
            links = await make_real_links(lab, args.real_links, shared_recordings())
            return await asyncio.to_thread(run_soak, where, args.modems, args.duration,
                                           seed=args.seed, interval_s=args.interval,
                                           real_links=links)

    with tempfile.TemporaryDirectory(prefix="linewatch-soak-") as tmp:
        where = Path(args.dir) if args.dir else Path(tmp)
        where.mkdir(parents=True, exist_ok=True)
        if args.real_links > 0:
            result = asyncio.run(with_real_links(where))
        else:
            result = run_soak(where, args.modems, args.duration, seed=args.seed,
                              interval_s=args.interval)
    problems = result.problems()
    print("\n".join(problems) if problems else "soak: no loss, no duplicates, RSS flat, "
          f"all {result.accounts_checked} verdicts right")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
