"""The headend's view end to end (issue 15, parts 3, 5, 7): fleet + collector + agents.

The lab fleet runs a CMTS / DSLAM / OLT per node (its headends CSV imported
beside the inventory); the agents poll modems every 3 s and headends every
second. Each story must give the verdict a technician would sign:

- mgmt_path (the modem answers nobody, the CMTS says operational): `unknown`,
  cause management path, with the headend's status in the evidence;
- drop_cut (levels slide, the CMTS sees it ranging, then dark): line_fault;
- power_off: equipment_fault with the CMTS's "offline" and "power first";
- micro_reflection: the PNM evidence names the injected distance (within half a
  pre-equalizer tap);
- headend_dark: no modem's verdict changes; the dark headend is its own finding
  (the agent's headend polls fail, the collector holds the error under its id);
- a node outage the headend sees first (that node's modems are polled once a
  minute by a second agent, its CMTS every second): area_outage on every
  account of the node, opened while most of its modems had not been polled dark.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import subprocess
import time
import urllib.request
from pathlib import Path

import msgspec
from stack import LINEWATCH, Proc, Stack, free_port, http_json

from lab.fleet.equalizer import tap_metres
from probes.inventory import format_headends, format_inventory, parse_headends

HEADEND_TOML = "[headend]\ninterval_s = 1.0\ntimeout_s = 1.0\nretries = 0\n"
SLOW_S = 60.0  # the outage node's modem polls: the headend must see it first
ECHO_M = 150.0


def _verdict(stack: Stack, account: str) -> dict:
    status, answer = http_json("GET", f"{stack.collector.url}/v1/accounts/{account}",
                               stack.support_token)
    assert status == 200, answer
    return answer


def _facts(answer: dict) -> dict[str, dict]:
    return {e["fact"]: e for e in answer["verdict"].get("evidence", [])}


def _headend_failures(metrics_port: int) -> float:
    """Headend polls that ended without a reading (timeout, unreachable...)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as r:
        text = r.read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("linewatch_agent_probes_total{")
               and 'probe="headend"' in line and 'outcome="ok"' not in line)


def _slow_agent(stack: Stack) -> Proc:
    """A second agent ("slow") polling the outage node: its modems once a minute."""
    port = free_port()
    config = stack.config_path.read_text()
    config = config.replace('name = "default"', 'name = "slow"')
    config = re.sub(r"interval_s = [0-9.]+\n", f"interval_s = {SLOW_S}\n", config, count=1)
    config = re.sub(r'metrics_listen = "[^"]+"', f'metrics_listen = "127.0.0.1:{port}"', config)
    config = config.replace(str(stack.spool_path), str(stack.tmp / "slow-spool.db"))
    path = stack.tmp / "slow.toml"
    path.write_text(config)
    proc = Proc([*LINEWATCH, "agent", "run", "--config", str(path)], stack.tmp / "slow.log",
                env={"LINEWATCH_AGENT_TOKEN": stack.agent_token})
    return proc


def test_headend_view_stories_end_to_end(tmp_path: Path) -> None:
    stack = Stack(tmp_path, modems=70, nodes=7, ping=False, interval_s=3.0, headends=True,
                  agent_tail=HEADEND_TOML)
    slow: Proc | None = None
    try:
        by_node: dict[str, list[str]] = {}
        for t in stack.targets:
            by_node.setdefault(t.node, []).append(t.account)
        # NODE-01/03/05/07 are DOCSIS (lab/fleet/layout.py TECH_PATTERN), 10 modems each.
        cut, mgmt = by_node["NODE-01"][:2]
        powered_off, echo = by_node["NODE-03"][:2]
        quiet = by_node["NODE-05"]
        outage = by_node["NODE-07"]
        # The outage node (lines and CMTS) belongs to the slow agent, the rest to "default".
        lines = [msgspec.structs.replace(t, agent="slow" if t.node == "NODE-07" else "default")
                 for t in stack.targets]
        heads = [msgspec.structs.replace(h, agent="slow" if "NODE-07" in h.nodes else "default")
                 for h in parse_headends(stack.headends_csv)]
        assert {h.kind for h in heads} == {"cmts", "dslam", "olt"}
        # Both CSVs through the operator's command, told apart by their headers.
        for name, body in (("lines.csv", format_inventory(lines)),
                           ("headends.csv", format_headends(heads))):
            (tmp_path / name).write_text(body)
            done = subprocess.run(
                [*LINEWATCH, "inventory", "import", str(tmp_path / name), "--url",
                 stack.collector.url, "--json"], capture_output=True, text=True, timeout=60,
                env={**os.environ, "LINEWATCH_TOKEN": stack.admin_token}, check=False)
            assert done.returncode == 0, done.stderr
        assert '"headends": 6' in done.stdout, done.stdout

        stack.start_agent()
        slow = _slow_agent(stack)
        stack.wait_metric('linewatch_agent_pushes_total{outcome="ok"}', 1, timeout_s=30)
        stack.wait_metric("linewatch_agent_headend_rows_total", 40, timeout_s=30)
        time.sleep(7.0)  # a few clean polls of everyone first
        assert stack.agent_metric(
            'linewatch_agent_headend_rows_total{kind="dslam",outcome="matched"}') > 0
        assert stack.agent_metric(
            'linewatch_agent_headend_rows_total{kind="olt",outcome="matched"}') > 0
        for kind in ("cmts", "dslam", "olt"):
            assert stack.agent_metric(
                f'linewatch_agent_headend_rows_total{{kind="{kind}",outcome="unmatched"}}') == 0
        before = {a: stack.verdict(a) for a in quiet}
        assert set(before.values()) == {"ok"}, before

        stack.fault(kind="drop_cut", account=cut, degrade_s=12.0)
        stack.fault(kind="mgmt_path", account=mgmt)
        stack.fault(kind="power_off", account=powered_off)
        stack.fault(kind="micro_reflection", account=echo, distance_m=ECHO_M, level_dbc=-15.0)
        stack.fault(kind="headend_dark", node="NODE-05")
        failures_before = _headend_failures(stack.metrics_port)

        # A node outage the headend sees first: area_outage on every account, in time.
        injected = time.time()
        stack.fault(kind="node_outage", node="NODE-07")
        seen: dict[str, str] = {}
        for _ in range(100):
            seen = {a: stack.verdict(a) for a in outage}
            if set(seen.values()) == {"area_outage"}:
                break
            time.sleep(0.1)
        took = time.time() - injected
        assert set(seen.values()) == {"area_outage"}, seen
        polled_dark = 0
        for a in outage:
            snmp = (_verdict(stack, a).get("latest") or {}).get("snmp") or {}
            if snmp.get("started_at", 0.0) >= injected and snmp["result"]["type"] == "error":
                polled_dark += 1
        assert polled_dark < 5, polled_dark  # not enough for the modems' polls to open it
        print(f"node outage seen by the headend poll: area_outage on all {len(outage)} "
              f"accounts {took:.1f} s after the fault ({polled_dark} modems polled dark)")

        expected = {cut: "line_fault", mgmt: "unknown", powered_off: "equipment_fault",
                    echo: "line_fault"}
        dark_facts = {"pre_dark_ds_snr_db", "pre_dark_readings_out_of_spec",
                      "headend_registration"}
        for _ in range(60):
            seen = {a: stack.verdict(a) for a in expected}
            if (seen == expected
                    and "headend_status" in _facts(_verdict(stack, powered_off))
                    and _facts(_verdict(stack, cut)).keys() & dark_facts):
                break
            time.sleep(1.0)
        assert seen == expected, seen

        facts = _facts(_verdict(stack, mgmt))
        assert facts["management_path"]["value"] == "failing"
        assert facts["headend_status"]["value"] == "operational"
        assert "CMTS-NODE-01" in facts["headend_status"]["detail"]

        facts = _facts(_verdict(stack, cut))
        assert facts.keys() & dark_facts, facts
        print(f"drop cut: {sorted(facts)}")

        off = _verdict(stack, powered_off)["verdict"]
        facts = _facts({"verdict": off})
        assert "offline" in facts["headend_status"]["detail"], facts
        assert "power first" in off["action"]

        echo_ev = _facts(_verdict(stack, echo))["us_pre_eq_echo_dbc"]
        distance = float(re.search(r"~(\d+) m of cable", echo_ev["detail"]).group(1))  # type: ignore[union-attr]
        assert abs(distance - ECHO_M) <= tap_metres() / 2 + 1.0, echo_ev
        print(f"micro-reflection injected at {ECHO_M:.0f} m, read back at ~{distance:.0f} m")

        # The dark headend: its modems keep their verdicts; its polls fail, and the
        # collector holds that failure under the headend's own id.
        assert _headend_failures(stack.metrics_port) > failures_before
        assert {a: stack.verdict(a) for a in quiet} == before
        with contextlib.closing(sqlite3.connect(stack.db, timeout=10)) as db:
            row = db.execute("SELECT data FROM latest WHERE account = ? AND probe = 'headend'",
                             ("CMTS-NODE-05",)).fetchone()
        assert row is not None and b'"error"' in bytes(row[0]), row

        assert slow.stop() == 0
        slow = None
        assert stack.stop_agent() == 0
    finally:
        if slow is not None:
            slow.stop()
        stack.close()
