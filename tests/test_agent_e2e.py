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

import json
import signal
import subprocess
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from stack import (
    INTERVAL_S,
    LINEWATCH,
    REPO,
    Stack,
    assert_delivered_exactly_once,
    http_json,
    need_collector,
)

from agent.config import ConfigError, parse_config

COLLECTOR_OUTAGE_S = 30.0  # the issue requires the collector away for 30 s


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
    status, answer = http_json("POST", f"{stack.collector.url}/v1/accounts/{fine}/check",
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
