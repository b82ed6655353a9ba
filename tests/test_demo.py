"""The README's main command, run for real: fleet, collector and agent as processes."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

from needs import need_binary


def _env(columns: int) -> dict[str, str]:
    return {**os.environ, "COLUMNS": str(columns)}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_demo_once_prints_readings_for_200_modems_on_5_nodes() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "linewatch.cli", "demo", "--once", "--modems", "200",
         "--nodes", "5"],
        capture_output=True, text=True, timeout=120, env=_env(200),
    )
    assert out.returncode == 0, out.stderr[-2000:]
    summary = re.search(
        r"polled (\d+) modems on (\d+) nodes in [\d.]+ s: (\d+) answered", out.stdout
    )
    assert summary, out.stdout[-2000:]
    modems, nodes, answered = map(int, summary.groups())
    assert (modems, nodes, answered) == (200, 5, 200)
    # one table per node, rows with real values (a DOCSIS SNR figure, a DSL margin)
    assert len(re.findall(r"NODE-\d+ \((docsis|dsl|gpon|ethernet), \d+ modems\)", out.stdout)) == 5
    assert re.search(r"SNR min \d+\.\d dB", out.stdout)
    assert re.search(r"margin \d+\.\d+ dB", out.stdout)


def test_demo_scripted_faults_reach_their_verdicts(tmp_path: Path) -> None:
    """The same run also proves the demo's webhook receiver: its file holds an
    outage.opened whose signature checks with the collector's secret, and the
    call record's script (three IVR calls, a dispatch, the outage cleared) gives
    one call.repeat, one dispatch.requested and one outage.closed with credits."""
    need_binary("iperf3")
    hooks, secret = tmp_path / "webhooks.jsonl", "demo-test-hook-secret"
    out = subprocess.run(
        [sys.executable, "-m", "linewatch.cli", "demo", "--duration", "95", "--modems", "240",
         "--nodes", "6", "--listen", f"127.0.0.1:{_free_port()}", "--webhooks-out", str(hooks)],
        capture_output=True, text=True, timeout=180,
        env={**_env(160), "LINEWATCH_DEMO_HOOK_SECRET": secret},
    )
    assert out.returncode == 0, (out.stdout[-3000:], out.stderr[-2000:])
    hits = re.search(r"scripted accounts at their expected verdict: (\d+) of (\d+)", out.stdout)
    assert hits, out.stdout[-3000:]
    assert hits.group(1) == hits.group(2), out.stdout[-4000:]
    assert f"writes each delivery to {hooks}" in out.stdout, out.stdout[:2000]
    lines = [json.loads(line) for line in hooks.read_text().splitlines()]
    opened = [d for d in lines if d["event"] == "outage.opened"]
    assert opened, lines
    for d in opened:
        want = "sha256=" + hmac.new(secret.encode(), d["body"].encode(), hashlib.sha256).hexdigest()
        assert hmac.compare_digest(d["signature"], want)
        body = json.loads(d["body"])
        assert body["event"] == "outage.opened" and body["data"]["accounts"], body
        assert d["delivery"].startswith("wh-")
    by_event = {e: [d for d in lines if d["event"] == e]
                for e in ("call.repeat", "dispatch.requested", "outage.closed")}
    assert {e: len(ds) for e, ds in by_event.items()} == dict.fromkeys(by_event, 1), \
        out.stdout[-3000:]
    closed = json.loads(by_event["outage.closed"][0]["body"])["data"]
    assert closed["outage"]["id"] == json.loads(opened[0]["body"])["data"]["id"], closed
    assert closed["credits"], closed
    repeat = json.loads(by_event["call.repeat"][0]["body"])["data"]
    dispatch = json.loads(by_event["dispatch.requested"][0]["body"])["data"]
    assert repeat["calls_recent"] == 3 and repeat["call"]["repeat"], repeat
    assert repeat["call"]["account"] == dispatch["account"], (repeat, dispatch)
    received = re.search(r"webhook deliveries received: outage\.opened (\d+)", out.stdout)
    assert received and int(received.group(1)) == len(opened), out.stdout[-2000:]
    print(out.stdout[received.start():].splitlines()[0], json.dumps(opened[0])[:600])
