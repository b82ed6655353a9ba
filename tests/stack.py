"""Real-process harness shared by the end-to-end, fault and soak tests.

A ``Stack`` is the collector, the lab fleet and the agent as separate
processes wired the way an operator would, plus readers of what each side
holds (the agent's spool ledger, the collector's batches and history), so a
test can prove "delivered exactly once" from both ends.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import signal
import socket
import sqlite3
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from probes.inventory import parse_inventory

INTERVAL_S = 3.0  # poll interval in the test configs (production default 300 s)

REPO = Path(__file__).resolve().parent.parent
LINEWATCH = [sys.executable, "-m", "linewatch.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def create_token(db: str, role: str) -> str:
    out = subprocess.run(
        [*LINEWATCH, "token", "create", "--role", role, "--db", db],
        capture_output=True, text=True, timeout=60, cwd=REPO, check=True,
    )
    return out.stdout.strip().splitlines()[-1]


class CollectorProcess:
    """`linewatch collector serve` on a free port; restartable on the same db.

    ``extra_args`` go to ``collector serve`` (e.g. ``--tls-cert F --tls-key K``,
    which makes ``url`` https; change them between stop() and start() to serve
    another certificate). ``host``: the listen address (a netns veth address)."""

    def __init__(self, db: str, log_path: Path, port: int | None = None, *,
                 host: str = "127.0.0.1", extra_args: list[str] | None = None) -> None:
        self.db = db
        self.host = host
        self.port = port or free_port()
        self.extra_args = list(extra_args or [])
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        scheme = "https" if "--tls-cert" in self.extra_args else "http"
        return f"{scheme}://{self.host}:{self.port}"

    def start(self, timeout_s: float = 30.0) -> None:
        log = open(self.log_path, "ab")  # the child keeps its own descriptor
        self.proc = subprocess.Popen(
            [*LINEWATCH, "collector", "serve", "--db", self.db,
             "--listen", f"{self.host}:{self.port}", *self.extra_args],
            stdout=log, stderr=subprocess.STDOUT, cwd=REPO,
        )
        log.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"collector exited: {self.log_path.read_text()[-2000:]}")
            with contextlib.suppress(OSError), socket.create_connection(
                (self.host.strip("[]"), self.port), timeout=0.2  # "[::1]" listens on ::1
            ):
                return
            time.sleep(0.1)
        raise RuntimeError("collector did not start listening")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None

    # -- what the collector stored (read straight from its SQLite file) ------------
    def batch_ids(self) -> set[str]:
        with contextlib.closing(sqlite3.connect(self.db, timeout=10)) as db:
            return {r[0] for r in db.execute("SELECT batch_id FROM batches")}


def need_collector() -> None:
    try:
        for module in ("collector.app", "collector.keymetrics"):
            importlib.import_module(module)
    except ImportError as exc:  # the collector is built in parallel with the agent
        pytest.skip(f"collector not importable yet: {exc}")


def http_json(method: str, url: str, token: str | None = None, body: bytes | None = None,
          content_type: str = "application/json", timeout: float = 30.0,
          context: ssl.SSLContext | None = None) -> tuple[int, dict]:
    req = urllib.request.Request(url, data=body, method=method)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    if body is not None:
        req.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=context) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


class Proc:
    """A child process with its output in a log file; stopped by its own pid only."""

    def __init__(self, args: list[str], log_path: Path, env: dict[str, str] | None = None,
                 netns: str | None = None):
        if netns is not None:  # run inside that network namespace (root only)
            args = ["ip", "netns", "exec", netns, *args]
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
    """Collector + fleet + agent, wired the way an operator would.

    Options for the TLS and fault tests: ``collector_args`` (e.g. TLS files),
    ``ca_file`` (the agent's and the test's trust anchor for https),
    ``netns`` (fleet and agent run in that namespace; the collector listens on
    ``collector_host``, the agent's metrics on ``agent_host``), and
    ``agent_extra`` (more ``[agent]`` lines), ``client_cert`` (cert, key) the
    test's own requests present (mutual TLS), ``community`` (the fleet answers
    and the agent's default credential set sends), ``agent_tail`` (more TOML
    at the end of the agent config, e.g. other credential sets), ``interval_s``
    (the agent's poll interval), ``headends`` (the fleet writes its headends CSV,
    imported beside the inventory: ``headends_csv``)."""

    def __init__(self, tmp: Path, modems: int = 60, nodes: int = 3, ping: bool = True, *,
                 collector_args: list[str] | None = None, ca_file: Path | None = None,
                 netns: str | None = None, collector_host: str = "127.0.0.1",
                 agent_host: str = "127.0.0.1", agent_extra: str = "",
                 client_cert: tuple[Path, Path] | None = None, community: str = "public",
                 agent_tail: str = "", interval_s: float = INTERVAL_S,
                 headends: bool = False) -> None:
        self.tmp = tmp
        self.netns = netns
        self.db = str(tmp / "collector.db")
        self.client_ssl = ssl.create_default_context(cafile=str(ca_file)) if ca_file else None
        if self.client_ssl is not None and client_cert is not None:  # mutual TLS
            self.client_ssl.load_cert_chain(*client_cert)
        self.agent_token = create_token(self.db, "agent")
        self.admin_token = create_token(self.db, "admin")
        self.support_token = create_token(self.db, "support")
        self.collector = CollectorProcess(self.db, tmp / "collector.log", host=collector_host,
                                          extra_args=collector_args)
        self.collector.start()
        self.fleet_port = free_port()
        self.control = f"127.0.0.1:{free_port()}"
        inventory = tmp / "inventory.csv"
        heads = tmp / "headends.csv"
        self.fleet = Proc(
            [*LINEWATCH, "lab", "fleet", "--modems", str(modems), "--nodes", str(nodes),
             "--port", str(self.fleet_port), "--control", self.control,
             "--inventory", str(inventory), "--community", community,
             *(["--headends", str(heads)] if headends else [])],
            tmp / "fleet.log", netns=netns,
        )
        for _ in range(300):
            if inventory.exists() and inventory.stat().st_size > 0:
                break
            time.sleep(0.1)
        time.sleep(0.2)
        self.csv = inventory.read_text()
        self.targets = parse_inventory(self.csv)
        status, answer = http_json("PUT", f"{self.collector.url}/v1/inventory", self.admin_token,
                               self.csv.encode(), "text/csv", context=self.client_ssl)
        assert status == 200, answer
        self.headends_csv = heads.read_text() if headends else ""
        if headends:
            status, answer = http_json("PUT", f"{self.collector.url}/v1/inventory",
                                       self.admin_token, self.headends_csv.encode(), "text/csv",
                                       context=self.client_ssl)
            assert status == 200 and answer.get("headends"), answer
        self.spool_path = tmp / "agent-spool.db"
        self.agent_host = agent_host
        self.metrics_port = free_port()
        ca_line = f'ca_file = "{ca_file}"' if ca_file else ""
        self.config_path = tmp / "agent.toml"
        self.config_path.write_text(
            f"""
[agent]
name = "default"
collector_url = "{self.collector.url}"
interval_s = {interval_s}
jitter_s = 0.2
probe_deadline_s = 3.0
metrics_listen = "{agent_host}:{self.metrics_port}"
spool_path = "{self.spool_path}"
{ca_line}
{agent_extra}
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

[credentials.default]
version = "2c"
community = "{community}"
{agent_tail}
"""
        )
        self.agent: Proc | None = None

    def start_agent(self) -> None:
        self.agent = Proc(
            [*LINEWATCH, "agent", "run", "--config", str(self.config_path)],
            self.tmp / "agent.log", env={"LINEWATCH_AGENT_TOKEN": self.agent_token},
            netns=self.netns,
        )

    def stop_agent(self, sig: int = signal.SIGTERM) -> int:
        assert self.agent is not None
        rc = self.agent.stop(sig, timeout=30)
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
        with urllib.request.urlopen(f"http://{self.agent_host}:{self.metrics_port}/metrics",
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
        status, answer = http_json("GET", f"{self.collector.url}/v1/accounts/{account}",
                               self.support_token, context=self.client_ssl)
        assert status == 200, answer
        return answer["verdict"]["verdict"]


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
