"""deploy/prometheus checked by the real promtool: config, rules, and rule unit tests.

The unit tests (deploy/prometheus/tests/*.yml) feed synthetic series through
every alert and say when each must and must not fire.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from needs import REPO, need_binary

PROM = REPO / "deploy" / "prometheus"
RULES = PROM / "rules" / "linewatch.rules.yml"
RULE_TESTS = sorted((PROM / "tests").glob("*.yml"))


def promtool(*args: str, cwd: Path = PROM) -> subprocess.CompletedProcess[str]:
    need_binary("promtool")
    return subprocess.run(["promtool", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120)


def test_config_is_valid() -> None:
    res = promtool("check", "config", "prometheus.yml")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "1 rule files found" in res.stdout + res.stderr  # the glob matched the rules


def test_rules_are_valid() -> None:
    res = promtool("check", "rules", str(RULES))
    assert res.returncode == 0, res.stdout + res.stderr


@pytest.mark.parametrize("test_file", RULE_TESTS, ids=lambda p: p.name)
def test_rule_unit_tests_pass(test_file: Path) -> None:
    res = promtool("test", "rules", str(test_file.relative_to(PROM)))
    assert res.returncode == 0, res.stdout + res.stderr


def test_every_alert_has_a_unit_test() -> None:
    rules = yaml.safe_load(RULES.read_text())
    alerts = {r["alert"] for g in rules["groups"] for r in g["rules"] if "alert" in r}
    tested: set[str] = set()
    firing: set[str] = set()
    for path in RULE_TESTS:
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                tested.add(check["alertname"])
                if check.get("exp_alerts"):
                    firing.add(check["alertname"])
    assert alerts == tested, f"untested: {alerts - tested}; unknown: {tested - alerts}"
    assert alerts == firing, f"never shown firing: {alerts - firing}"


def test_a_wrong_expectation_fails(tmp_path: Path) -> None:
    """The harness can fail: the outage test with the wrong node must not pass."""
    src = (PROM / "tests" / "network.test.yml").read_text()
    broken = src.replace("node: NODE-03", "node: NODE-04", 1)
    assert broken != src
    copy = tmp_path / "broken.test.yml"
    copy.write_text(broken.replace("../rules/linewatch.rules.yml", str(RULES)))
    res = promtool("test", "rules", str(copy), cwd=tmp_path)
    assert res.returncode != 0 and "LinewatchNodeOutage" in res.stdout + res.stderr
