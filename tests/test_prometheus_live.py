"""The real Prometheus scraping a real collector + agent + fleet simulator.

Story: a 40-modem fleet on 4 nodes, one collector (SQLite), one agent polling
every second over SNMP, Prometheus scraping both every second and evaluating
the repo's alert rules every second. The expected linewatch series exist
with the contract's types (counter / gauge / histogram), and when NODE-03 goes
dark in the fleet, LinewatchNodeOutage fires for NODE-03 and no other node.

The rules are the repo's, except every `for:` is shortened to 1s in a test
copy (the real 1m..15m would not fit a test); the scrape config keeps the
repo's job names and paths with loopback targets and 1 s intervals.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.parse
from pathlib import Path

import yaml
from needs import need_binary, need_root
from test_deploy_static import (
    LINEWATCH,
    PROM,
    RULES,
    collector_proc,
    contract_base_names,
    create_token,
    expected_type,
    fleet_proc,
    free_port,
    http_get,
    http_json,
    inject_fault,
    running,
    tail,
    wait_http,
    write_agent_config,
)

POLL_S = 0.5
WAIT_S = 60.0
OUTAGE_NODE = "NODE-03"

HISTOGRAMS = {n for n in contract_base_names() if expected_type(n) == "histogram"}


def test_contract_types_cover_every_name() -> None:
    names = contract_base_names()
    assert len(HISTOGRAMS) == 4 and len(names) >= 20, names


def prometheus_config(tmp: Path, collector: str, agent: str) -> Path:
    """The repo's scrape jobs pointed at loopback, 1 s intervals, shortened rules."""
    repo = yaml.safe_load((PROM / "prometheus.yml").read_text())
    jobs = {j["job_name"]: j for j in repo["scrape_configs"]}
    targets = {"linewatch-collector": collector, "linewatch-agent": agent}
    scrape = []
    for name, target in targets.items():
        job = dict(jobs[name])
        job["static_configs"] = [{"targets": [target], "labels": {"region": "test"}}]
        job["scrape_interval"] = "1s"
        scrape.append(job)
    rules = yaml.safe_load(RULES.read_text())
    shortened = 0
    for group in rules["groups"]:
        group["interval"] = "1s"
        for rule in group["rules"]:
            if "for" in rule:
                rule["for"] = "1s"
                shortened += 1
    assert shortened >= 5
    (tmp / "rules.yml").write_text(yaml.safe_dump(rules, sort_keys=False))
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s",
                   "scrape_timeout": "900ms"},
        "rule_files": [str(tmp / "rules.yml")],
        "scrape_configs": scrape,
    }
    path = tmp / "prometheus.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def api(prom: str, path: str, **params: str) -> object:
    query = urllib.parse.urlencode(params)
    body = json.loads(http_get(f"{prom}/api/v1/{path}" + (f"?{query}" if query else "")))
    assert body["status"] == "success", body
    return body["data"]


def wait_for(what: str, check, logs: list[Path]) -> object:
    """Poll check() every 0.5 s for up to 60 s; its first truthy answer wins."""
    end = time.monotonic() + WAIT_S
    last: object = None
    while time.monotonic() < end:
        last = check()
        if last:
            return last
        time.sleep(POLL_S)
    raise AssertionError(
        f"timed out after {WAIT_S} s waiting for {what}; last: {str(last)[:1500]}\n"
        + "\n".join(f"--- {p.name}\n{tail(p, 15)}" for p in logs)
    )


def outage_alerts(prom: str) -> list[dict]:
    alerts = api(prom, "alerts")["alerts"]  # type: ignore[index]
    return [a for a in alerts if a["labels"].get("alertname") == "LinewatchNodeOutage"]


def test_prometheus_scrapes_types_and_fires_node_outage(tmp_path: Path) -> None:
    need_binary("prometheus")
    need_root()  # the agent's ICMP socket and the fleet's 127.20.x.y source addresses
    db = str(tmp_path / "collector.db")
    admin = create_token(db, "admin", "live-admin")
    support = create_token(db, "support", "live-support")
    agent_token = create_token(db, "agent", "live-agent")
    aport, pport = free_port(), free_port()
    prom_url = f"http://127.0.0.1:{pport}"
    logs = [tmp_path / n for n in ("collector.log", "agent.log", "fleet.log", "prometheus.log")]

    with (
        fleet_proc(tmp_path, modems=40, nodes=4) as (control, inventory_csv),
        collector_proc(tmp_path, db) as collector,
    ):
        http_json("PUT", f"{collector}/v1/inventory", token=admin, body=inventory_csv,
                  content_type="text/csv")
        agent_toml = tmp_path / "agent.toml"
        write_agent_config(agent_toml, name="default", collector_url=collector,
                           metrics_port=aport, interval_s=1.0, ping=False)
        config = prometheus_config(tmp_path, collector.removeprefix("http://"),
                                   f"127.0.0.1:{aport}")
        res = subprocess.run(["promtool", "check", "config", str(config)], capture_output=True,
                             text=True, timeout=60)
        assert res.returncode == 0, res.stdout + res.stderr
        with (
            running([str(LINEWATCH), "agent", "run", "--config", str(agent_toml)],
                    tmp_path / "agent.log", env={"LINEWATCH_AGENT_TOKEN": agent_token}) as agent,
            running(["prometheus", f"--config.file={config}",
                     f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                     f"--web.listen-address=127.0.0.1:{pport}"],
                    tmp_path / "prometheus.log") as prom,
        ):
            wait_http(f"http://127.0.0.1:{aport}/metrics", agent)
            wait_http(f"{prom_url}/-/ready", prom, deadline_s=WAIT_S)

            # One on-demand check, so the job and check counters have series too.
            def checked() -> object:
                try:
                    return http_json("POST", f"{collector}/v1/accounts/ACC-000001/check",
                                     token=support, body={"probes": ["snmp"], "timeout_s": 5},
                                     timeout=15)
                except AssertionError:
                    return None

            wait_for("an on-demand check", checked, logs)

            # Both targets up, every contract series present.
            def all_up() -> object:
                res = api(prom_url, "query", query="up")
                ups = {r["metric"]["job"]: r["value"][1] for r in res["result"]}  # type: ignore[index]
                return ups if ups == {"linewatch-collector": "1", "linewatch-agent": "1"} else None

            wait_for("both targets up", all_up, logs)
            wanted = {n + ("_bucket" if n in HISTOGRAMS else "") for n in contract_base_names()}

            def series_present() -> object:
                data = api(prom_url, "series", **{"match[]": '{__name__=~"linewatch_.+"}'})
                names = {s["__name__"] for s in data}  # type: ignore[union-attr]
                return not (wanted - names)

            try:
                wait_for("every contract series", series_present, logs)
            except AssertionError:
                data = api(prom_url, "series", **{"match[]": '{__name__=~"linewatch_.+"}'})
                names = {s["__name__"] for s in data}  # type: ignore[union-attr]
                raise AssertionError(f"series never scraped: {sorted(wanted - names)}") from None

            meta = api(prom_url, "metadata")
            for name in sorted(contract_base_names()):
                entry = meta.get(name) or meta.get(name.removesuffix("_total"))  # type: ignore[union-attr]
                assert entry, f"no metadata for {name}"
                assert entry[0]["type"] == expected_type(name), (name, entry)

            # Nothing is in outage yet: the fleet is healthy.
            assert not [a for a in outage_alerts(prom_url) if a["state"] == "firing"]

            inject_fault(control, "node_outage", OUTAGE_NODE)

            def firing() -> object:
                alerts = [a for a in outage_alerts(prom_url) if a["state"] == "firing"]
                return alerts or None

            alerts = wait_for(f"LinewatchNodeOutage firing for {OUTAGE_NODE}", firing, logs)
            assert {a["labels"]["node"] for a in alerts} == {OUTAGE_NODE}  # type: ignore[union-attr]
            alert = alerts[0]  # type: ignore[index]
            assert alert["labels"]["severity"] == "critical"
            assert OUTAGE_NODE in alert["annotations"]["summary"]
            # The collector's own view agrees with what Prometheus alerted on.
            nodes = http_json("GET", f"{collector}/v1/nodes", token=support)
            out = {n["node"] for n in nodes["nodes"] if n["outage"]}  # type: ignore[index]
            assert out == {OUTAGE_NODE}
