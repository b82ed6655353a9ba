"""deploy/ checked without a container engine or systemd as PID 1.

No container engine runs here, so compose and the Containerfiles are checked
by construction: they parse, every file they reference exists, images are
pinned, ports and hostnames agree with the Prometheus/Grafana config. The
systemd units go through the real ``systemd-analyze verify`` and
``systemd-analyze security --offline`` (both work without systemd running).

The metric check is the one that matters most: every metric name used by an
alert rule or a dashboard query must be one a real collector and a real agent
export. ``test_queries_use_only_scraped_metrics`` starts both as subprocesses
and scrapes their /metrics.

Helpers here (free ports, processes, the metric-name extractor) are imported by
the live and scale-out tests.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml
from needs import REPO, need_binary

DEPLOY = REPO / "deploy"
SYSTEMD = DEPLOY / "systemd"
CONTAINER = DEPLOY / "container"
PROM = DEPLOY / "prometheus"
RULES = PROM / "rules" / "linewatch.rules.yml"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "linewatch.json"
LINEWATCH = Path(sys.executable).parent / "linewatch"

# --- PromQL metric-name extraction -------------------------------------------------

_KEYWORDS = frozenset(
    {"and", "or", "unless", "bool", "by", "without", "on", "ignoring", "group_left",
     "group_right", "offset", "inf", "nan", "atan2", "start", "end"}
)
_STRING = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[[^\[\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_OFFSET = re.compile(r"\boffset\s+-?[0-9a-z]+")
# An identifier not glued to a word, a dot (number) or `$` (Grafana variable),
# taken whole (no backtracking into a prefix), and not called as a function.
_IDENT = re.compile(r"(?<![\w:.$])([A-Za-z_:][\w:]*)(?![\w:])(?!\s*\()")


def promql_metric_names(expr: str) -> set[str]:
    """Metric names in a PromQL expression: no functions, labels, keywords, numbers."""
    s = _STRING.sub('""', expr)
    s = _MATCHERS.sub(" ", s)
    s = _RANGE.sub(" ", s)
    s = _GROUPING.sub(" ", s)
    s = _OFFSET.sub(" ", s)
    return {m for m in _IDENT.findall(s) if m.lower() not in _KEYWORDS}


def rule_exprs() -> list[str]:
    doc = yaml.safe_load(RULES.read_text())
    return [r["expr"] for g in doc["groups"] for r in g["rules"]]


def dashboard_exprs() -> list[str]:
    dash = json.loads(DASHBOARD.read_text())
    exprs: list[str] = []

    def walk(panels: list[dict]) -> None:
        for p in panels:
            exprs.extend(t["expr"] for t in p.get("targets", []) if t.get("expr"))
            walk(p.get("panels", []))

    walk(dash["panels"])
    exprs.extend(a["expr"] for a in dash.get("annotations", {}).get("list", []) if "expr" in a)
    for var in dash.get("templating", {}).get("list", []):
        query = var.get("query")
        q = query.get("query", "") if isinstance(query, dict) else str(query or "")
        m = re.fullmatch(r"\s*label_values\(\s*(.+?)\s*,\s*\w+\s*\)\s*", q)
        exprs.append(m.group(1) if m else q)
    return exprs


def used_metric_names() -> set[str]:
    names: set[str] = set()
    for expr in rule_exprs() + dashboard_exprs():
        names |= promql_metric_names(expr)
    return names - {"up"}  # Prometheus' own per-target series


def contract_metric_names() -> set[str]:
    """Names listed in the Metrics section of docs/CONTRACTS.md (+ histogram series)."""
    text = (REPO / "docs" / "CONTRACTS.md").read_text()
    section = text[text.index("## Metrics") :]
    section = section[: section.index("\n## ", 1)]
    names: set[str] = set()
    for line in section.splitlines():
        if "is not a metric" in line:
            continue
        for name in re.findall(r"`(linewatch_[a-z0-9_]+)", line):
            names.add(name)
            # Histograms: marked so, or durations (`..._duration_seconds{route}`).
            if f"`{name}` (histogram)" in line or name.endswith("_duration_seconds"):
                names |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
    return names


def contract_base_names() -> set[str]:
    """Contract names without the histogram series suffixes."""
    names = contract_metric_names()
    return {n for n in names if not (re.search(r"_(bucket|sum|count)$", n)
                                     and n[: n.rindex("_")] in names)}


def expected_type(name: str) -> str:
    """The exposition type a contract name must have."""
    if f"{name}_bucket" in contract_metric_names():
        return "histogram"
    return "counter" if name.endswith("_total") else "gauge"


def exported_names(exposition: str) -> dict[str, str]:
    """Series names a /metrics page exports -> family type (a histogram X gives
    X_bucket/_sum/_count; a counter X gives X_total), even before any sample."""
    from prometheus_client.parser import text_string_to_metric_families

    out: dict[str, str] = {}
    for fam in text_string_to_metric_families(exposition):
        suffixes = {"counter": ["_total"], "histogram": ["", "_bucket", "_sum", "_count"],
                    "summary": ["_sum", "_count", ""]}.get(fam.type, [""])
        for suffix in suffixes:
            out[fam.name + suffix] = fam.type
        for sample in fam.samples:
            out.setdefault(sample.name, fam.type)
    return out


def test_extractor_skips_functions_labels_keywords() -> None:
    expr = (
        'histogram_quantile(0.9, sum by (instance, le) (rate(a_seconds_bucket{job="x",le!="1"}'
        "[5m] offset 1h))) > 30 and on (instance) b_total / ignoring(le) group_left(node) "
        'c{node=~"$node"} or vector(0) unless d[1h:5m] + time() - e offset 5m > bool 1e3'
    )
    assert promql_metric_names(expr) == {"a_seconds_bucket", "b_total", "c", "d", "e"}
    assert promql_metric_names("count(max by (node) (x) == 1) or vector(0)") == {"x"}
    assert promql_metric_names("sum(rate(y[$__rate_interval])) by (verdict)") == {"y"}


def test_queries_use_only_contract_metrics() -> None:
    used = used_metric_names()
    assert len(used) >= 15, used  # the extractor found the queries at all
    unknown = used - contract_metric_names()
    assert not unknown, f"not in docs/CONTRACTS.md: {sorted(unknown)}"


# --- real processes ---------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_get(url: str, timeout: float = 5.0, headers: dict[str, str] | None = None) -> bytes:
    req = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return resp.read()


def wait_http(url: str, proc: subprocess.Popen[bytes], deadline_s: float = 30.0) -> None:
    """Poll every 0.2 s until url answers 200; fail early if proc died."""
    end = time.monotonic() + deadline_s
    last: Exception | None = None
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise AssertionError(f"{proc.args!r} exited with {proc.returncode}")
        try:
            http_get(url, timeout=2)
            return
        except (urllib.error.URLError, OSError) as exc:
            last = exc
        time.sleep(0.2)
    raise AssertionError(f"{url} not up within {deadline_s} s: {last}")


@contextmanager
def running(cmd: list[str], log: Path, env: dict[str, str] | None = None) -> Iterator[
    subprocess.Popen[bytes]
]:
    """A subprocess for the duration of a with-block; SIGTERM then SIGKILL after 10 s."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
            start_new_session=True,
        )
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=5)


def tail(log: Path, n: int = 30) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return ""


def create_token(db: str, role: str, name: str) -> str:
    out = subprocess.run(
        [str(LINEWATCH), "token", "create", "--role", role, "--name", name, "--db", db],
        capture_output=True, text=True, timeout=60, check=True,
    )
    return out.stdout.strip().splitlines()[-1].strip()


def http_json(method: str, url: str, *, token: str | None = None, body: object = None,
              content_type: str = "application/json", timeout: float = 10.0) -> object:
    """One JSON request; HTTP errors raise with the answer's body in the message."""
    data = None
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if body is not None:
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        headers["Content-Type"] = content_type
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        raise AssertionError(f"{method} {url} -> {exc.code}: {exc.read()[:500]!r}") from None


@contextmanager
def collector_proc(tmp: Path, db: str, name: str = "collector",
                   config: Path | None = None) -> Iterator[str]:
    """`linewatch collector serve` on a free loopback port; yields its base URL."""
    port = free_port()
    log = tmp / f"{name}.log"
    cmd = [str(LINEWATCH), "collector", "serve", "--db", db, "--listen", f"127.0.0.1:{port}"]
    if config is not None:
        cmd += ["--config", str(config)]
    with running(cmd, log) as proc:
        url = f"http://127.0.0.1:{port}"
        try:
            wait_http(f"{url}/healthz", proc)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{tail(log)}") from None
        yield url


@contextmanager
def fleet_proc(tmp: Path, modems: int, nodes: int) -> Iterator[tuple[str, str]]:
    """`linewatch lab fleet` (SNMP on 127.20.x.y, a free UDP port); yields
    (control URL, inventory CSV text)."""
    control = f"127.0.0.1:{free_port()}"
    inventory = tmp / "fleet-inventory.csv"
    log = tmp / "fleet.log"
    cmd = [str(LINEWATCH), "lab", "fleet", "--modems", str(modems), "--nodes", str(nodes),
           "--port", "0", "--control", control, "--inventory", str(inventory)]
    with running(cmd, log) as proc:
        url = f"http://{control}"
        try:
            wait_http(f"{url}/fleet", proc)
            end = time.monotonic() + 10
            while not inventory.exists() and time.monotonic() < end:
                time.sleep(0.1)
            text = inventory.read_text()
        except (AssertionError, OSError) as exc:
            raise AssertionError(f"{exc}\n{tail(log)}") from None
        yield url, text


def inject_fault(control_url: str, kind: str, node: str) -> object:
    return http_json("POST", f"{control_url}/faults", body={"kind": kind, "node": node})


def write_agent_config(path: Path, *, name: str, collector_url: str, metrics_port: int,
                       inventory: Path | None = None, interval_s: float = 2.0,
                       ping: bool = True) -> None:
    lines = [
        "[agent]",
        f'name = "{name}"',
        f'collector_url = "{collector_url}"',
        'token_env = "LINEWATCH_AGENT_TOKEN"',
        f'metrics_listen = "127.0.0.1:{metrics_port}"',
        f'spool_path = "{path.parent / (name + "-spool.db")}"',
        f"interval_s = {interval_s}",
        "jitter_s = 0.2",
        "push_interval_s = 0.5",
        "assignment_refresh_s = 2.0",
        "probe_deadline_s = 2.0",
        "shutdown_grace_s = 1.0",
        "final_push_s = 1.0",
    ]
    if inventory is not None:
        lines.append(f'inventory = "{inventory}"')
    # ping=False in fleet tests: the fleet's 127.20.x.y modems sit on loopback,
    # which always answers ICMP, so a simulated outage is visible to SNMP only.
    lines += ["", "[snmp]", "timeout_s = 0.5", "retries = 0", "", "[ping]",
              f"enabled = {'true' if ping else 'false'}", "count = 1", "timeout_s = 0.5"]
    path.write_text("\n".join(lines) + "\n")


def test_queries_use_only_scraped_metrics(tmp_path: Path) -> None:
    """Start a real collector and agent; every queried name must be on their /metrics."""
    cport, aport = free_port(), free_port()
    db = str(tmp_path / "collector.db")
    inventory = tmp_path / "inventory.csv"
    inventory.write_text(
        "account,host,technology,node,plan_down_mbps,plan_up_mbps,snmp_port\n"
        "A1,127.0.0.1,docsis,NODE-01,100,10,9\n"
    )
    agent_toml = tmp_path / "agent.toml"
    write_agent_config(agent_toml, name="static", collector_url=f"http://127.0.0.1:{cport}",
                       metrics_port=aport, inventory=inventory)
    clog, alog = tmp_path / "collector.log", tmp_path / "agent.log"
    with (
        running([str(LINEWATCH), "collector", "serve", "--db", db, "--listen",
                 f"127.0.0.1:{cport}"], clog) as collector,
        running([str(LINEWATCH), "agent", "run", "--config", str(agent_toml)], alog) as agent,
    ):
        try:
            wait_http(f"http://127.0.0.1:{cport}/healthz", collector)
            wait_http(f"http://127.0.0.1:{aport}/metrics", agent)
            exported = exported_names(http_get(f"http://127.0.0.1:{cport}/metrics").decode())
            exported |= exported_names(http_get(f"http://127.0.0.1:{aport}/metrics").decode())
        except AssertionError as exc:
            raise AssertionError(f"{exc}\ncollector:\n{tail(clog)}\nagent:\n{tail(alog)}") from None
    missing = used_metric_names() - set(exported)
    assert not missing, f"queried but not exported: {sorted(missing)}"
    # And the contract itself is what the services export, with the right types.
    assert not contract_metric_names() - set(exported), sorted(
        contract_metric_names() - set(exported)
    )
    wrong = {n: exported[n] for n in contract_base_names() if exported[n] != expected_type(n)}
    assert not wrong, f"exported with the wrong type: {wrong}"


# --- systemd ------------------------------------------------------------------------------


def unit_entries(path: Path) -> list[tuple[str, str, str]]:
    """(section, key, value) in order; systemd keys may repeat, so not configparser."""
    entries: list[tuple[str, str, str]] = []
    section = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        entries.append((section, key.strip(), value.strip()))
    return entries


def unit_values(path: Path, key: str) -> list[str]:
    return [v for s, k, v in unit_entries(path) if s == "Service" and k == key]


def _seconds(value: str) -> float:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(s|min|ms)?", value)
    assert m, value
    return float(m.group(1)) * {"s": 1, None: 1, "min": 60, "ms": 0.001}[m.group(2)]


UNITS = ["linewatch-collector.service", "linewatch-agent.service"]


@pytest.mark.parametrize("unit", UNITS)
def test_unit_is_hardened(unit: str) -> None:
    path = SYSTEMD / unit
    one = {k: v for s, k, v in unit_entries(path) if s == "Service"}
    for key, want in {
        "DynamicUser": "yes", "ProtectSystem": "strict", "ProtectHome": "yes",
        "PrivateTmp": "yes", "NoNewPrivileges": "yes", "PrivateDevices": "yes",
        "RestrictNamespaces": "yes", "RestrictSUIDSGID": "yes", "LockPersonality": "yes",
        "SystemCallArchitectures": "native", "KillSignal": "SIGTERM", "UMask": "0077",
    }.items():
        assert one.get(key) == want, f"{unit}: {key}={one.get(key)!r}, want {want!r}"
    state = one["StateDirectory"]
    assert unit_values(path, "ReadWritePaths") == [f"%S/{state}"]
    assert unit_values(path, "SystemCallFilter")[0] == "@system-service"
    families = set(one["RestrictAddressFamilies"].split())
    assert {"AF_INET", "AF_INET6"} <= families and "AF_UNIX" in families
    env_files = unit_values(path, "EnvironmentFile")
    assert env_files and all(re.fullmatch(r"-?/etc/linewatch/[\w-]+\.env", f) for f in env_files)
    assert one["ExecStart"].startswith("/opt/linewatch/venv/bin/linewatch ")
    if unit == "linewatch-agent.service":
        assert one["CapabilityBoundingSet"] == "CAP_NET_RAW"
        assert one["AmbientCapabilities"] == "CAP_NET_RAW"
    else:
        assert one["CapabilityBoundingSet"] == "" and one["AmbientCapabilities"] == ""
        assert "AF_PACKET" not in families


def test_stop_timeouts_cover_drain() -> None:
    """SIGKILL must not cut the agent's drain (grace + final push) or the collector's."""
    from agent.config import AgentSection
    from collector.config import CollectorConfig

    a = AgentSection(name="x")
    agent_stop = _seconds(unit_values(SYSTEMD / "linewatch-agent.service", "TimeoutStopSec")[0])
    assert agent_stop >= a.shutdown_grace_s + a.final_push_s + 2
    col_stop = _seconds(unit_values(SYSTEMD / "linewatch-collector.service", "TimeoutStopSec")[0])
    assert col_stop >= CollectorConfig().shutdown_timeout_s + 2


def test_units_pass_systemd_analyze(tmp_path: Path) -> None:
    """`systemd-analyze verify` (warnings count as failures) and an offline security score.

    verify checks that ExecStart exists, so the copies point it at this venv's
    `linewatch` instead of /opt/linewatch/venv; nothing else changes.
    """
    need_binary("systemd-analyze")
    assert LINEWATCH.exists()
    copies = []
    for unit in UNITS:
        text = (SYSTEMD / unit).read_text().replace("/opt/linewatch/venv/bin/linewatch",
                                                     str(LINEWATCH))
        (tmp_path / unit).write_text(text)
        copies.append(str(tmp_path / unit))
    res = subprocess.run(["systemd-analyze", "verify", *copies], capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 0 and not res.stderr.strip(), res.stderr
    for copy in copies:
        # Exposure 0..10 scaled to 0..100; plain `DynamicUser=yes` scores 84.
        sec = subprocess.run(
            ["systemd-analyze", "security", "--offline=yes", "--threshold=20", copy],
            capture_output=True, text=True, timeout=60,
        )
        assert sec.returncode == 0, sec.stdout[-2000:] + sec.stderr


# --- containers and compose ------------------------------------------------------------------


def compose() -> dict:
    return yaml.safe_load((CONTAINER / "compose.yaml").read_text())


def containerfile(name: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined."""
    text = re.sub(r"\\\n", " ", (CONTAINER / name).read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            instr, _, rest = line.partition(" ")
            out.append((instr.upper(), rest.strip()))
    return out


@pytest.mark.parametrize("name", ["Containerfile.agent", "Containerfile.collector"])
def test_containerfile(name: str) -> None:
    instrs = containerfile(name)
    froms = [a for i, a in instrs if i == "FROM"]
    assert froms and all(re.fullmatch(r"python:3\.11-slim[\w.-]*", f) for f in froms), froms
    users = [a for i, a in instrs if i == "USER"]
    assert users and users[-1].split(":")[0] not in {"root", "0"}
    for instr, args in instrs:
        if instr == "COPY" and not args.startswith("--from"):
            for src in args.split()[:-1]:
                assert (REPO / src).exists(), f"{name}: COPY {src} is not in the repo"
    run = " ".join(a for i, a in instrs if i == "RUN")
    assert "pip install ." in run
    assert dict(instrs).get("STOPSIGNAL") == "SIGTERM"
    if name == "Containerfile.agent":
        assert "iperf3" in run and "cap_net_raw+ep" in run
        assert dict(instrs)["EXPOSE"] == "9470"
    else:
        assert dict(instrs)["EXPOSE"] == "8470"


def _compose_vars(doc: object) -> set[str]:
    text = json.dumps(doc)
    return set(re.findall(r"\$\{(\w+)", text))


def test_compose_wiring() -> None:
    doc = compose()
    services = doc["services"]
    assert {"postgres", "collector", "agent", "prometheus", "alertmanager", "grafana"} <= set(
        services
    )
    for name, svc in services.items():
        if "build" in svc:
            ctx = (CONTAINER / svc["build"]["context"]).resolve()
            assert ctx == REPO
            assert (ctx / svc["build"]["dockerfile"]).is_file(), name
            assert re.fullmatch(r"[\w./-]+:\d[\w.-]*", svc["image"]), svc["image"]
        else:
            image = svc["image"]
            tag = image.rsplit(":", 1)[1] if ":" in image.split("/")[-1] else ""
            assert tag and tag != "latest" and re.search(r"\d", tag), f"{name}: unpinned {image}"
        for vol in svc.get("volumes", []):
            src = vol.split(":")[0]
            if src.startswith("."):
                assert (CONTAINER / src).exists(), f"{name}: volume source {src} missing"
            else:
                assert src in doc.get("volumes", {}), f"{name}: undeclared volume {src}"
        for port in svc.get("ports", []):
            assert port.startswith("127.0.0.1:"), f"{name}: {port} published beyond loopback"
        for dep in svc.get("depends_on", []):
            assert dep in services
    # Every ${VAR} has a line in env.example.
    example = {line.split("=")[0] for line in (CONTAINER / "env.example").read_text().splitlines()
               if "=" in line and not line.startswith("#")}
    assert _compose_vars(doc) <= example, _compose_vars(doc) - example
    assert services["agent"]["cap_add"] == ["NET_RAW"] and services["agent"]["cap_drop"] == ["ALL"]
    assert "cap_add" not in services["collector"]


def _listen_port(listen: str) -> int:
    return int(listen.rpartition(":")[2])


def test_compose_configs_load_and_ports_agree() -> None:
    """The compose TOMLs load with the real config parsers; Prometheus, Grafana
    and Alertmanager point at the service names and ports the services use."""
    from agent.config import load_config as load_agent
    from collector.config import load_config as load_collector

    doc = compose()
    services = doc["services"]
    agent_cfg = load_agent(CONTAINER / "agent.compose.toml")
    cmd = services["collector"]["command"]
    col_cfg = load_collector(CONTAINER / "collector.compose.toml",
                             listen=cmd[cmd.index("--listen") + 1], db=cmd[cmd.index("--db") + 1])
    col_port = _listen_port(col_cfg.listen)
    agent_port = _listen_port(agent_cfg.agent.metrics_listen)
    assert agent_cfg.agent.collector_url == f"http://collector:{col_port}"
    assert agent_cfg.agent.spool_path.startswith("/var/lib/linewatch/")
    assert any(v.endswith(":/var/lib/linewatch") for v in services["agent"]["volumes"])
    assert col_cfg.db.startswith("postgresql://") and "@postgres:5432/" in col_cfg.db
    assert ":" not in col_cfg.db.split("//")[1].split("@")[0], "password in the URL"
    assert f"127.0.0.1:{col_port}:{col_port}" in services["collector"]["ports"]

    prom = yaml.safe_load((PROM / "prometheus.yml").read_text())
    jobs = {j["job_name"]: j for j in prom["scrape_configs"]}
    targets = {
        name: [t for sc in jobs[name]["static_configs"] for t in sc["targets"]]
        for name in ("linewatch-collector", "linewatch-agent")
    }
    assert targets["linewatch-collector"] == [f"collector:{col_port}"]
    assert targets["linewatch-agent"] == [f"agent:{agent_port}"]
    am = prom["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert am == ["alertmanager:9093"] and "alertmanager" in services
    # Prometheus mounts the file and the rules folder its rule_files glob reads.
    vols = services["prometheus"]["volumes"]
    assert "../prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro" in vols
    assert "../prometheus/rules:/etc/prometheus/rules:ro" in vols
    assert prom["rule_files"] == ["rules/*.rules.yml"]

    grafana = DEPLOY / "grafana"
    ds = yaml.safe_load((grafana / "provisioning/datasources/prometheus.yml").read_text())
    ds = ds["datasources"][0]
    assert ds["url"] == "http://prometheus:9090"
    provider = yaml.safe_load((grafana / "provisioning/dashboards/linewatch.yml").read_text())
    dash_path = provider["providers"][0]["options"]["path"]
    assert f"../grafana/dashboards:{dash_path}:ro" in services["grafana"]["volumes"]
    # Every panel and annotation queries the provisioned datasource.
    dash = json.loads(DASHBOARD.read_text())
    uids = {json.dumps(p.get("datasource")) for p in dash["panels"] if p["type"] != "row"}
    uids |= {json.dumps(t["datasource"]) for p in dash["panels"] for t in p.get("targets", [])}
    assert uids == {json.dumps({"type": "prometheus", "uid": ds["uid"]})}, uids


def test_dashboard_shape() -> None:
    dash = json.loads(DASHBOARD.read_text())
    assert dash["uid"] and dash["title"]
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    exprs = " ".join(dashboard_exprs())
    for needed in ("linewatch_node_accounts", "linewatch_node_outage",
                   "linewatch_agent_probe_duration_seconds_bucket", 'up{job="linewatch-agent"}',
                   "linewatch_agent_spool_records", "linewatch_agent_push_failures_total",
                   "linewatch_agent_schedule_lag_seconds_bucket",
                   "linewatch_ingest_records_total"):
        assert needed in exprs, needed
    assert "histogram_quantile" in exprs


def test_alertmanager_config() -> None:
    need_binary("amtool")
    res = subprocess.run(
        ["amtool", "check-config", str(DEPLOY / "alertmanager" / "alertmanager.yml")],
        capture_output=True, text=True, timeout=60,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    # Every alert the rules raise is routed by a label the route tree knows.
    am = yaml.safe_load((DEPLOY / "alertmanager" / "alertmanager.yml").read_text())
    teams = {m.split("=")[1].strip('"') for r in am["route"]["routes"] for m in r["matchers"]}
    rules = yaml.safe_load(RULES.read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            assert rule["labels"]["severity"] in {"critical", "warning"}
            assert rule["labels"]["team"] in teams | {"ops"}
            assert rule["annotations"]["summary"] and rule["annotations"]["description"]


def test_no_secrets_committed() -> None:
    """Only placeholders in deploy/; real values come from .env / *.env files."""
    for path in DEPLOY.rglob("*"):
        if path.is_file() and path.suffix in {".yml", ".yaml", ".toml", ".service", ".json", ""}:
            text = path.read_text(errors="replace")
            assert not re.search(r"postgres(?:ql)?://[^/\s:@]+:[^@\s$]+@", text), path
            assert not re.search(r"(?i)^\s*(token|password|community)\s*=\s*\"\w+\"", text,
                                 re.M), path
