"""`linewatch status/nodes/check/inventory import` as real subprocesses against
`linewatch collector serve` running as a real subprocess on a free port."""

from __future__ import annotations

import datetime
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from collector_harness import batch, dark, docsis_ok, ping_ok

from probes.model import encode

REPO = Path(__file__).resolve().parent.parent
CSV_HEADER = "account,host,technology,node,plan_down_mbps,plan_up_mbps\n"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("LINEWATCH_TOKEN", "LINEWATCH_URL")}
    return {**env, "PYTHONPATH": str(REPO), "COLUMNS": "200", **extra}


def linewatch(*args: str, token: str = "", url: str = "", timeout: float = 60
              ) -> subprocess.CompletedProcess[str]:
    extra = {"LINEWATCH_TOKEN": token} if token else {}
    if url:
        extra["LINEWATCH_URL"] = url
    return subprocess.run(
        [sys.executable, "-m", "linewatch.cli", *args], capture_output=True, text=True,
        timeout=timeout, cwd=REPO, env=_env(**extra),
    )


@dataclass
class Served:
    url: str
    tokens: dict[str, str]
    tmp: Path

    def run(self, *args: str, role: str = "support") -> subprocess.CompletedProcess[str]:
        return linewatch(*args, token=self.tokens[role], url=self.url)

    def ingest(self, records: list) -> None:  # type: ignore[type-arg]
        req = urllib.request.Request(
            f"{self.url}/v1/ingest", data=encode(batch(records)), method="POST",
            headers={"Content-Type": "application/json",
                     "Authorization": f"Bearer {self.tokens['agent']}"},
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert resp.status == 200


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("cli")
    db = str(tmp / "collector.db")
    tokens = {}
    for role in ("agent", "support", "admin"):
        made = linewatch("token", "create", "--role", role, "--db", db)
        assert made.returncode == 0, made.stderr
        tokens[role] = made.stdout.strip()
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = open(tmp / "collector.log", "wb")  # closed in finally
    proc = subprocess.Popen(
        [sys.executable, "-m", "linewatch.cli", "collector", "serve", "--db", db,
         "--listen", f"127.0.0.1:{port}"],
        cwd=REPO, env=_env(), stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"{url}/healthz", timeout=1) as resp:
                    if resp.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError):
                pass
            assert proc.poll() is None, (tmp / "collector.log").read_text()
            assert time.monotonic() < deadline, "collector did not start"
            time.sleep(0.1)
        served = Served(url=url, tokens=tokens, tmp=tmp)
        csv = tmp / "inventory.csv"
        csv.write_text(CSV_HEADER + "".join(
            f"A{i},127.20.1.{i + 1},docsis,N-{1 + i // 6},250,25\n" for i in range(12)))
        imported = served.run("inventory", "import", str(csv), role="admin")
        assert imported.returncode == 0, imported.stderr
        assert "imported 12 targets" in imported.stdout
        yield served
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()
    assert proc.returncode == 0, "graceful shutdown on SIGTERM"


def _one_line_error(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for word in words:
        assert word in lines[0], lines[0]


def test_status_shows_verdict_table_and_json(served: Served) -> None:
    served.ingest([docsis_ok("A1"), ping_ok("A1")])
    shown = served.run("status", "A1")
    assert shown.returncode == 0, shown.stderr
    for word in ("account", "A1", "N-1", "verdict", "fresh", "yes", "250/25 Mbit/s"):
        assert word in shown.stdout
    data = json.loads(served.run("status", "A1", "--json").stdout)
    assert data["account"] == "A1" and data["fresh"] is True
    assert data["verdict"]["verdict"] in ("ok", "customer_side")


def test_status_call_records_a_call_with_the_agents_name(served: Served) -> None:
    first = served.run("status", "A4", "--call", "--agent", "alice")
    assert first.returncode == 0, first.stderr
    assert "1st call in 48 h" in first.stdout and "alice" in first.stdout
    data = json.loads(served.run("status", "A4", "--call", "--agent", "bob", "--json").stdout)
    assert data["calls"]["count"] == 2 and data["calls"]["text"] == "2nd call in 48 h"
    assert [c["agent"] for c in data["calls"]["calls"]] == ["bob", "alice"]
    plain = json.loads(served.run("status", "A4", "--json").stdout)
    assert plain["calls"]["count"] == 2, "a plain status is no call"


def test_status_shows_the_technician_requested(served: Served) -> None:
    start = time.mktime((2026, 12, 3, 12, 0, 0, 0, 0, -1))  # a Thursday, local time
    req = urllib.request.Request(
        f"{served.url}/v1/accounts/A5/dispatches", method="POST",
        data=json.dumps({"reference": "FS-1234", "requested_by": "alice",
                         "window_start": start, "window_end": start + 7200}).encode(),
        headers={"Content-Type": "application/json",
                 "Authorization": f"Bearer {served.tokens['support']}"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 201
    shown = served.run("status", "A5")
    assert shown.returncode == 0, shown.stderr
    assert "technician requested today" in shown.stdout
    assert "by alice, ref FS-1234, window Thu 12-14" in shown.stdout


def test_dispatch_text_reads_like_the_floor_says_it() -> None:
    from collector.i18n.clock import zone
    from linewatch.client_cli import dispatch_text

    tz = zone("Europe/Stockholm")
    now = datetime.datetime(2026, 12, 3, 9, 0, tzinfo=tz).timestamp()
    d = {"at": now - 86400 + 5 * 3600 + 120, "requested_by": "alice", "reference": "FS-1234",
         "window_start": now + 3 * 3600, "window_end": now + 5 * 3600 + 1800}
    assert dispatch_text(d, now, tz) == (
        "technician requested yesterday 14:02 CET by alice, ref FS-1234, "
        "window Thu 12:00-14:30 CET")
    grouped = {"at": now - 3 * 86400, "requested_by": "bob", "grouped": True,
               "fault": "outage:N-1:17", "account": "A1"}
    assert dispatch_text(grouped, now, tz) == (
        "technician requested Mon 30 Nov 09:00 CET by bob (for outage:N-1:17, on A1)")


def test_nodes_table_shows_outage_and_json(served: Served) -> None:
    served.ingest([r for i in range(6, 12) for r in (docsis_ok(f"A{i}"), ping_ok(f"A{i}"))])
    served.ingest([r for i in range(6, 12) for r in dark(f"A{i}")])
    shown = served.run("nodes")
    assert shown.returncode == 0, shown.stderr
    row = next(line for line in shown.stdout.splitlines() if "N-2" in line)
    assert "since" in row and "6" in row
    data = json.loads(served.run("nodes", "--json").stdout)
    outage = {n["node"]: n["outage"] for n in data["nodes"]}
    assert outage == {"N-1": False, "N-2": True}


def test_outages_and_credits_list_the_node_outage_and_its_accounts(served: Served) -> None:
    served.ingest([r for i in range(6, 12) for r in (docsis_ok(f"A{i}"), ping_ok(f"A{i}"))])
    served.ingest([r for i in range(6, 12) for r in dark(f"A{i}")])  # N-2 dark (or still)
    deadline = time.monotonic() + 20  # the collector's outage watch runs every 5 s
    while True:
        listed = json.loads(served.run("outages", "--json").stdout)["outages"]
        if any(o["node"] == "N-2" for o in listed) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    [outage] = [o for o in listed if o["node"] == "N-2"]
    assert sorted(outage["accounts"]) == sorted(f"A{i}" for i in range(6, 12))
    shown = served.run("outages")
    assert shown.returncode == 0, shown.stderr
    assert outage["id"] in shown.stdout and "open" in shown.stdout
    table = served.run("credits", outage["id"])
    assert table.returncode == 0, table.stderr
    assert "A6" in table.stdout and "A11" in table.stdout
    csv_out = served.run("credits", outage["id"], "--csv")
    assert csv_out.returncode == 0, csv_out.stderr
    lines = csv_out.stdout.splitlines()
    assert lines[0] == "outage,kind,node,account,since,until,downtime_s" and len(lines) == 7
    _one_line_error(served.run("credits", "outage:nope:1"), "unknown outage outage:nope:1")


def test_check_many_accounts_without_an_agent_reports_not_fresh(served: Served) -> None:
    shown = served.run("check", "A2", "A3", "--timeout", "0.3")
    assert shown.returncode == 0, shown.stderr
    assert "A2" in shown.stdout and "A3" in shown.stdout
    assert "agent did not answer" in shown.stdout
    data = json.loads(served.run("check", "A2", "--timeout", "0.2", "--json").stdout)
    assert [r["fresh"] for r in data["results"]] == [False] and data["errors"] == {}


def test_errors_exit_non_zero_with_one_line_reason(served: Served) -> None:
    _one_line_error(served.run("status", "ZZZ"), "unknown account ZZZ")
    _one_line_error(served.run("check", "ZZZ", "--timeout", "0.1"), "unknown account ZZZ")
    _one_line_error(linewatch("status", "A1", token="wrong", url=served.url), "unauthorized")
    _one_line_error(served.run("nodes", role="agent"), "forbidden")
    _one_line_error(linewatch("nodes", url=served.url), "LINEWATCH_TOKEN")
    dead = f"http://127.0.0.1:{_free_port()}"
    _one_line_error(linewatch("status", "A1", token="x", url=dead), "cannot reach")
    bad = served.tmp / "bad.csv"
    bad.write_text(
        CSV_HEADER + "B1,127.20.2.1,docsis,N-9,100,10\nB2,127.20.2.2,docsis,N-9,fast,10\n"
    )
    _one_line_error(served.run("inventory", "import", str(bad), role="admin"),
                    "line 3", "plan_down_mbps")
    _one_line_error(served.run("inventory", "import", str(served.tmp / "missing.csv"),
                               role="admin"), "cannot read")


def test_status_folds_a_long_evidence_list(served: Served) -> None:
    """32 channels below the SNR floor: eight evidence lines, then one saying how
    many more (all of them in --json)."""
    from probes.model import DownstreamChannel

    record = docsis_ok("A0")
    record.result.line.downstream[:] = [  # type: ignore[union-attr]
        DownstreamChannel(index=i, frequency_hz=300_000_000 + i * 8_000_000, power_dbmv=1.5,
                          snr_db=24.0, unerrored=100_000 * i, corrected=i, uncorrectable=0)
        for i in range(1, 33)]
    served.ingest([record, ping_ok("A0")])
    shown = served.run("status", "A0")
    assert shown.returncode == 0, shown.stderr
    evidence = shown.stdout.split("evidence", 1)[1].split("\n\n", 1)[0]
    listed = [ln for ln in evidence.splitlines() if ln.strip().startswith("-")]
    data = json.loads(served.run("status", "A0", "--json").stdout)
    total = len(data["verdict"]["evidence"])
    assert len(listed) == 8 and total > 8
    assert f"+ {total - 8} more facts (all of them: --json)" in evidence


def test_a_title_longer_than_its_narrow_table_stays_on_one_line() -> None:
    """`linewatch credits` at 80 columns wrapped its title ('... closed, 0' /
    'min 40 s)') to the width of a three-column table."""
    from io import StringIO

    from rich.console import Console

    from linewatch.tables import Col, fit_table

    title = "credits for outage:NODE-01:17963 (node outage on NODE-01, closed, 0 min 40 s)"
    cols = [Col("account", keep=True), Col("downtime", justify="right"),
            Col("seconds", justify="right", priority=1)]
    buf = StringIO()
    Console(file=buf, width=80).print(fit_table(title, cols, [["ACC-1", "0 min 35 s", "35"]], 80))
    lines = buf.getvalue().splitlines()
    assert lines[0].strip() == title and "account" in lines[2], lines
