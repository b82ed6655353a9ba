"""End to end with real processes: collector, fleet simulator and agent as subprocesses.

The story: the agent polls a simulated fleet over real SNMP and ICMP on
loopback, spools every result and pushes it to the real collector.
- the collector is killed for COLLECTOR_OUTAGE_S and restarted on the same db:
  every result the agent accepted is delivered, exactly once;
- the agent is SIGTERMed mid-cycle while the collector is away: nothing it
  accepted is lost, it is all delivered after a restart;
- an on-demand check through the collector is answered fresh;
- injected faults reach the verdict the support floor needs.
Plus the config contract (unknown keys, hidden secrets).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_agent_push import (
    LINEWATCH,
    REPO,
    CollectorProcess,
    create_token,
    free_port,
    need_collector,
)

from agent.config import ConfigError, parse_config
from probes.inventory import parse_inventory

COLLECTOR_OUTAGE_S = 30.0  # the issue requires the collector away for 30 s
INTERVAL_S = 3.0  # poll interval in the test configs (production default 300 s)


def _http(method: str, url: str, token: str | None = None, body: bytes | None = None,
          content_type: str = "application/json", timeout: float = 30.0) -> tuple[int, dict]:
    req = urllib.request.Request(url, data=body, method=method)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    if body is not None:
        req.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


class Proc:
    """A child process with its output in a log file; stopped by its own pid only."""

    def __init__(self, args: list[str], log_path: Path, env: dict[str, str] | None = None):
        with open(log_path, "ab") as log:
            self.proc = subprocess.Popen(
                args, stdout=log, stderr=subprocess.STDOUT, cwd=REPO,
                env={**os.environ, **(env or {})},
            )
        self.log_path = log_path

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        return self.proc.returncode

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]


class Stack:
    """Collector + fleet + agent, wired the way an operator would."""

    def __init__(self, tmp: Path, modems: int = 60, nodes: int = 3, ping: bool = True) -> None:
        self.tmp = tmp
        self.db = str(tmp / "collector.db")
        self.agent_token = create_token(self.db, "agent")
        self.admin_token = create_token(self.db, "admin")
        self.support_token = create_token(self.db, "support")
        self.collector = CollectorProcess(self.db, tmp / "collector.log")
        self.collector.start()
        self.fleet_port = free_port()
        self.control = f"127.0.0.1:{free_port()}"
        inventory = tmp / "inventory.csv"
        self.fleet = Proc(
            [*LINEWATCH, "lab", "fleet", "--modems", str(modems), "--nodes", str(nodes),
             "--port", str(self.fleet_port), "--control", self.control,
             "--inventory", str(inventory)],
            tmp / "fleet.log",
        )
        for _ in range(300):
            if inventory.exists() and inventory.stat().st_size > 0:
                break
            time.sleep(0.1)
        time.sleep(0.2)
        self.csv = inventory.read_text()
        self.targets = parse_inventory(self.csv)
        status, answer = _http("PUT", f"{self.collector.url}/v1/inventory", self.admin_token,
                               self.csv.encode(), "text/csv")
        assert status == 200, answer
        self.spool_path = tmp / "agent-spool.db"
        self.metrics_port = free_port()
        self.config_path = tmp / "agent.toml"
        self.config_path.write_text(
            f"""
[agent]
name = "default"
collector_url = "{self.collector.url}"
interval_s = {INTERVAL_S}
jitter_s = 0.2
probe_deadline_s = 3.0
metrics_listen = "127.0.0.1:{self.metrics_port}"
spool_path = "{self.spool_path}"
push_interval_s = 1.0
push_backoff_max_s = 2.0
job_wait_s = 5.0
shutdown_grace_s = 5.0
final_push_s = 3.0

[snmp]
timeout_s = 1.0
retries = 0

[ping]
enabled = {"true" if ping else "false"}
count = 2
interval_s = 0.1
timeout_s = 0.5
"""
        )
        self.agent: Proc | None = None

    def start_agent(self) -> None:
        self.agent = Proc(
            [*LINEWATCH, "agent", "run", "--config", str(self.config_path)],
            self.tmp / "agent.log", env={"LINEWATCH_AGENT_TOKEN": self.agent_token},
        )

    def stop_agent(self) -> int:
        assert self.agent is not None
        rc = self.agent.stop(signal.SIGTERM, timeout=30)
        self.agent = None
        return rc

    def close(self) -> None:
        if self.agent is not None:
            self.agent.stop(signal.SIGKILL)
        self.fleet.stop()
        self.collector.stop()

    # -- what each side holds ----------------------------------------------------
    def spool_state(self) -> tuple[int, int, list[tuple[str, int, str]]]:
        """(accepted ever, still held, ledger of batches that left) from the agent's spool."""
        with contextlib.closing(sqlite3.connect(self.spool_path, timeout=10)) as db:
            row = db.execute("SELECT seq FROM sqlite_sequence WHERE name='records'").fetchone()
            held = db.execute("SELECT COUNT(*) FROM records").fetchone()[0]
            ledger = [tuple(r) for r in db.execute(
                "SELECT batch_id, records, outcome FROM sent ORDER BY rowid")]
        return (int(row[0]) if row else 0), held, ledger  # type: ignore[return-value]

    def history_rows(self) -> tuple[int, int]:
        """(history rows, distinct (account, at)) in the collector's store."""
        with contextlib.closing(sqlite3.connect(self.db, timeout=10)) as db:
            total = db.execute("SELECT COUNT(*) FROM history").fetchone()[0]
            distinct = db.execute(
                "SELECT COUNT(*) FROM (SELECT DISTINCT account, at, metrics FROM history)"
            ).fetchone()[0]
        return total, distinct

    def agent_metric(self, name: str) -> float:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics",
                                    timeout=5) as resp:
            text = resp.read().decode()
        total = 0.0
        for line in text.splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def wait_metric(self, name: str, at_least: float, timeout_s: float) -> float:
        value = 0.0
        for _ in range(int(timeout_s * 10)):
            with contextlib.suppress(OSError):
                value = self.agent_metric(name)
                if value >= at_least:
                    return value
            time.sleep(0.1)
        raise AssertionError(f"{name} stayed at {value} < {at_least}")

    def fault(self, **body: object) -> None:
        req = urllib.request.Request(
            f"http://{self.control}/faults", data=json.dumps(body).encode(), method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert resp.status == 201

    def verdict(self, account: str) -> str:
        status, answer = _http("GET", f"{self.collector.url}/v1/accounts/{account}",
                               self.support_token)
        assert status == 200, answer
        return answer["verdict"]["verdict"]


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    need_collector()
    s = Stack(tmp_path)
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def snmp_only_stack(tmp_path: Path) -> Iterator[Stack]:
    """The simulator fakes SNMP only: ICMP to its 127.20.x.y addresses is answered by
    the kernel even for a "dead" modem, so fault verdicts are judged without ping."""
    need_collector()
    s = Stack(tmp_path, ping=False)
    try:
        yield s
    finally:
        s.close()


def assert_delivered_exactly_once(stack: Stack) -> int:
    accepted, held, ledger = stack.spool_state()
    delivered = sum(n for _, n, outcome in ledger if outcome in ("ok", "duplicate"))
    assert held == 0, f"{held} records never left the spool"
    assert not [b for b in ledger if b[2] == "rejected"]
    assert delivered == accepted  # every accepted record left in a confirmed batch
    assert {b for b, _, _ in ledger} == stack.collector.batch_ids()  # ...and arrived
    rows, distinct = stack.history_rows()
    assert rows == distinct  # no record was stored twice
    assert 0.9 * accepted <= rows <= accepted  # (healthy fleet: nearly all chartable)
    return accepted


def test_collector_away_30s_every_result_delivered_exactly_once(stack: Stack) -> None:
    stack.start_agent()
    stack.wait_metric('linewatch_agent_pushes_total{outcome="ok"}', 2, timeout_s=20)
    stack.collector.stop(signal.SIGKILL)
    before = stack.agent_metric("linewatch_agent_probes_total")
    time.sleep(COLLECTOR_OUTAGE_S)
    during = stack.agent_metric("linewatch_agent_probes_total") - before
    assert during >= 0.8 * 2 * len(stack.targets) * COLLECTOR_OUTAGE_S / INTERVAL_S
    assert stack.agent_metric("linewatch_agent_spool_records") > 0
    assert stack.agent_metric("linewatch_agent_push_failures_total") >= 3
    with urllib.request.urlopen(f"http://127.0.0.1:{stack.metrics_port}/metrics") as resp:
        exposition = resp.read().decode()
    assert "ACC-" not in exposition and "127.20." not in exposition  # labels stay bounded
    stack.collector.start()
    for _ in range(200):  # drains within 20 s of the collector's return
        if stack.agent_metric("linewatch_agent_spool_records") < 2 * len(stack.targets):
            break
        time.sleep(0.1)
    else:
        raise AssertionError("spool did not drain after the collector came back")
    assert stack.stop_agent() == 0
    agent_log = (stack.tmp / "agent.log").read_text(errors="replace")
    assert "spool" in agent_log  # the log is there...
    assert stack.agent_token not in agent_log and "Bearer" not in agent_log  # ...secrets are not
    accepted = assert_delivered_exactly_once(stack)
    assert accepted >= during


def test_agent_sigterm_mid_cycle_loses_nothing_accepted(stack: Stack) -> None:
    stack.start_agent()
    stack.wait_metric('linewatch_agent_pushes_total{outcome="ok"}', 1, timeout_s=20)
    stack.collector.stop(signal.SIGKILL)  # so the agent's final push cannot empty the spool
    time.sleep(INTERVAL_S * 1.3)  # mid-cycle: polls in flight when the signal lands
    assert stack.stop_agent() == 0
    accepted, held, _ = stack.spool_state()
    assert held > 0 and accepted > held
    stack.collector.start()
    stack.start_agent()  # the same spool: delivers what the last run accepted
    for _ in range(200):  # up to 20 s for the backlog of the first run to go out
        delivered = sum(n for _, n, o in stack.spool_state()[2] if o in ("ok", "duplicate"))
        if delivered >= accepted:
            break
        time.sleep(0.1)
    else:
        raise AssertionError("the first run's records were not delivered after restart")
    assert stack.stop_agent() == 0
    assert_delivered_exactly_once(stack)


def test_check_is_fresh_and_faults_reach_their_verdicts(snmp_only_stack: Stack) -> None:
    stack = snmp_only_stack
    by_node: dict[str, list] = {}
    for t in stack.targets:
        by_node.setdefault(t.node, []).append(t)
    docsis_nodes = sorted(n for n, ts in by_node.items() if ts[0].technology == "docsis")
    assert docsis_nodes, "the fleet has no DOCSIS node"
    healthy_node = docsis_nodes[0]
    outage_node = next(n for n in sorted(by_node) if n != healthy_node)
    dead, snr, looping, fine = (t.account for t in by_node[healthy_node][:4])
    stack.start_agent()
    stack.wait_metric('linewatch_agent_pushes_total{outcome="ok"}', 1, timeout_s=20)

    # (c) on-demand check through the collector, answered by the agent at once
    t0 = time.monotonic()
    status, answer = _http("POST", f"{stack.collector.url}/v1/accounts/{fine}/check",
                           stack.support_token, json.dumps({"timeout_s": 15}).encode())
    assert status == 200, answer
    assert answer["fresh"] is True, answer
    assert time.monotonic() - t0 < 10
    assert stack.agent_metric('linewatch_agent_jobs_total{outcome="ok"}') >= 1

    # (d) faults -> verdicts
    stack.fault(kind="node_outage", node=outage_node)
    stack.fault(kind="dead_modem", account=dead)
    stack.fault(kind="snr_drop", account=snr)
    stack.fault(kind="reboot_loop", account=looping, period_s=2.5, silent_s=0.3)
    outage_accounts = [t.account for t in by_node[outage_node][:3]]
    expected = {dead: "equipment_fault", snr: "line_fault", looping: "equipment_fault",
                fine: "ok", **{a: "area_outage" for a in outage_accounts}}
    seen: dict[str, str] = {}
    for _ in range(60):  # up to ~60 s
        seen = {a: stack.verdict(a) for a in expected}
        if seen == expected:
            break
        time.sleep(1.0)
    assert seen == expected
    assert stack.stop_agent() == 0


# -- config contract (no processes) -------------------------------------------------


def test_config_rejects_unknown_keys_and_hides_secrets(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="intervall_s"):
        parse_config({"agent": {"name": "a", "intervall_s": 5}})
    with pytest.raises(ConfigError, match="credentials"):
        parse_config({"agent": {"name": "a"}, "credentials": {"x": {"comunity": "p"}}})
    config = parse_config(
        {"agent": {"name": "a", "token": "tok-SECRET"},
         "credentials": {"v3": {"version": "3", "user": "u", "auth_key": "auth-SECRET",
                                "priv_key": "priv-SECRET"}}}
    )
    assert "SECRET" not in repr(config) and "SECRET" not in repr(config.credentials["v3"])
    assert config.agent.interval_s == 300.0 and config.agent.concurrency == 1000
    example = tomllib.loads((REPO / "deploy/examples/agent.toml").read_text())
    assert parse_config(example).agent.metrics_listen == "127.0.0.1:9470"


def test_agent_cli_reports_a_bad_config(tmp_path: Path) -> None:
    bad = tmp_path / "agent.toml"
    bad.write_text('[agent]\nname = "a"\nconcurency = 5\n')
    out = subprocess.run([*LINEWATCH, "agent", "run", "--config", str(bad)],
                         capture_output=True, text=True, timeout=60, cwd=REPO)
    assert out.returncode == 2
    assert "concurency" in out.stderr
