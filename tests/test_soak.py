"""CI-sized soak (bench/soak.py): 1,000 modems, 90 s of random faults, two
collector restarts (SIGTERM, SIGKILL). Zero lost or duplicated results, RSS of
agent, collector and its writer flat within a generous bound, every account's
verdict right at the end. The long one: `.venv/bin/python -m bench.soak`."""

from __future__ import annotations

from pathlib import Path

from stack import need_collector

from bench.soak import run_soak


def test_soak_ci_sized(tmp_path: Path) -> None:
    need_collector()
    result = run_soak(tmp_path, modems=1000, duration_s=90.0, interval_s=10.0, seed=7)
    assert len(result.restarts) == 2
    assert sum(result.faults_injected.values()) >= 20
    assert result.accepted >= 1000 * 9  # every modem polled through the whole run
    assert not result.problems()
