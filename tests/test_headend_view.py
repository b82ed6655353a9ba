"""The headend view and the pre-dark trend where support reads them:
`GET /v1/accounts/{account}` (`headend`, `trend`) and `linewatch status`,
against `linewatch collector serve` as a real subprocess; `linewatch nodes`
lists a plant fault."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

import headend_view_data as story
import msgspec
import pytest
from collector_harness import batch, dark, docsis_ok, ping_ok, target
from test_client_cli import REPO, _env, _free_port, linewatch

from probes.model import ProbeRecord, encode


@dataclass
class Served:
    url: str
    tokens: dict[str, str]

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return linewatch(*args, token=self.tokens["support"], url=self.url)

    def call(self, method: str, path: str, role: str, body: bytes | None = None) -> object:
        req = urllib.request.Request(
            f"{self.url}{path}", data=body, method=method,
            headers={"Content-Type": "application/json",
                     "Authorization": f"Bearer {self.tokens[role]}"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())

    def ingest(self, records: list[ProbeRecord]) -> None:
        self.call("POST", "/v1/ingest", "agent", encode(batch(records)))


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("headend-view")
    db = str(tmp / "collector.db")
    tokens = {}
    for role in ("agent", "support", "admin"):
        made = linewatch("token", "create", "--role", role, "--db", db)
        assert made.returncode == 0, made.stderr
        tokens[role] = made.stdout.strip()
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    with open(tmp / "collector.log", "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "linewatch.cli", "collector", "serve", "--db", db,
             "--listen", f"127.0.0.1:{port}"],
            cwd=REPO, env=_env(), stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 20
            while True:
                try:
                    with urllib.request.urlopen(f"{url}/healthz", timeout=1):
                        break
                except (urllib.error.URLError, ConnectionError):
                    assert proc.poll() is None, (tmp / "collector.log").read_text()
                    assert time.monotonic() < deadline, "collector did not start"
                    time.sleep(0.1)
            s = Served(url=url, tokens=tokens)
            plant = [target(f"P-{i}", node="N-P") for i in range(10)]
            s.call("PUT", "/v1/inventory", "admin", msgspec.json.encode(
                {"targets": [*story.targets(), *plant], "headends": story.headends()}))
            for records in story.story():
                s.ingest(records)
            now = time.time()
            s.ingest([r for t in plant for r in (docsis_ok(t.account, now - 300),
                                                 ping_ok(t.account, now - 300))])
            s.ingest([r for t in plant[:3] for r in dark(t.account, now - 5)])
            yield s
        finally:
            proc.terminate()
            proc.wait(15)


def test_account_json_has_the_headend_view_and_the_trend(served: Served) -> None:
    data = served.call("GET", f"/v1/accounts/{story.DARK}", "support")
    assert isinstance(data, dict)
    assert data["verdict"]["verdict"] == "line_fault" and "latest" in data  # fields kept
    head = data["headend"]
    assert head["headend"] == story.HEADEND and head["kind"] == "cmts"
    assert head["seen"] is True and head["fresh"] is True
    assert head["state"] == "offline" and head["status"] == "other"
    m = head["modem"]
    assert m["mac"] == story.MAC and m["us_rx_power_dbmv"] == -4.5 and m["us_snr_db"] == 24.8
    assert (m["unerrored"], m["corrected"], m["uncorrectable"]) == (123456, 789, 4321)
    assert head["polled_at"] < time.time()
    trend = data["trend"]
    assert trend["window_s"] == 1800.0 and trend["dark_since"] is not None
    assert [p["ds_snr_db"] for p in trend["points"]] == list(story.SNRS)
    assert [p.get("out_of_spec", False) for p in trend["points"]] == [False, False, True]
    assert any("downstream SNR 37 -> 31 -> 25 dB over" in line and "then no answer" in line
               for line in trend["summary"])
    unseen = served.call("GET", f"/v1/accounts/{story.UNSEEN}", "support")
    assert isinstance(unseen, dict)
    assert unseen["headend"]["headend"] == story.HEADEND and unseen["headend"]["seen"] is False
    assert unseen["trend"]["dark_since"] is None and unseen["trend"]["summary"] == []
    bare = served.call("GET", f"/v1/accounts/{story.BARE}", "support")
    assert isinstance(bare, dict) and bare["headend"]["headend"] is None


def test_openapi_documents_the_new_objects(served: Served) -> None:
    doc = served.call("GET", "/v1/openapi.json", "support")
    assert isinstance(doc, dict)
    text = json.dumps(doc)
    assert "HeadendLineView" in text and "TrendView" in text and "TrendPoint" in text


def test_status_prints_the_headend_view_and_the_trend(served: Served) -> None:
    shown = served.run("status", story.DARK)
    assert shown.returncode == 0, shown.stderr
    out = shown.stdout
    assert f"headend view: CMTS {story.HEADEND}" in out and "(fresh)" in out
    assert "other (offline)" in out and "-4.5 dBmV" in out and "24.8 dB" in out
    assert "123456 / 789 / 4321" in out
    assert "trend: downstream SNR 37 -> 31 -> 25 dB over" in out
    assert "before it went dark" in out and "out of spec" in out
    for snr in ("37", "31", "25"):
        assert snr in out.split("before it went dark", 1)[1]
    bare = served.run("status", story.BARE)
    assert bare.returncode == 0, bare.stderr
    assert "headend: no headend configured for this line" in bare.stdout
    unseen = served.run("status", story.UNSEEN)
    assert "none for this line in its last poll" in unseen.stdout
    assert "recent trend" in unseen.stdout


def test_nodes_lists_the_plant_fault(served: Served) -> None:
    shown = served.run("nodes")
    assert shown.returncode == 0, shown.stderr
    row = " ".join(line for line in shown.stdout.splitlines() if "N-P" in line or "plant" in line)
    assert "plant fault plant-N-P-" in row and "3 dark together" in row
    data = json.loads(served.run("nodes", "--json").stdout)
    node = next(n for n in data["nodes"] if n["node"] == "N-P")
    assert node["outage"] is False and sorted(node["plant_faults"][0]["accounts"]) == [
        "P-0", "P-1", "P-2"]
