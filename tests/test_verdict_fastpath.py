"""The engine's shortcuts against the full judgement, as oracle.

The fast paths (``rules.docsis_clean`` deciding "no DOCSIS finding" in one
pass, cached message rendering) must never change a verdict. Each test runs
seeded random inputs that straddle every threshold (values near the limits,
missing fields, counters going back or wrapping, channels that do not line
up) through the fast path and through the full rules, and compares. Seeded,
bounded: a few thousand cases, well under a second each.
"""

from __future__ import annotations

import random

import pytest

from collector.keymetrics import history_point
from collector.verdicts import Thresholds, VerdictEngine, rules
from collector.verdicts import messages as msg
from collector.verdicts.rules import Finding
from probes.model import (
    DocsisLine,
    DownstreamChannel,
    InterfaceStatus,
    PingResult,
    ProbeError,
    ProbeRecord,
    SnmpReading,
    Target,
    UpstreamChannel,
)

TH = Thresholds.default()
D = TH.docsis


def _pick(rng: random.Random, good: object, edges: list[object]) -> object:
    """Mostly the healthy value; now and then one on or just past a limit, or None."""
    r = rng.random()
    if r < 0.01:
        return None
    return rng.choice(edges) if r < 0.03 else good


def _counter(rng: random.Random, base: int) -> int | None:
    r = rng.random()
    if r < 0.01:
        return None
    if r < 0.02:
        return rng.randrange(2**32)  # anything, also "went back" or a wrap
    return base


def _line(rng: random.Random, prev: DocsisLine | None) -> DocsisLine:
    """A reading near the thresholds; mostly a continuation of ``prev``."""
    n = rng.choice([1, 4, 8]) if rng.random() < 0.05 else 4
    before = {ch.index: ch for ch in prev.downstream} if prev is not None else {}
    indexes = list(range(1, n + 1))
    if rng.random() < 0.03:
        rng.shuffle(indexes)
    downstream = []
    for i in indexes:
        old = before.get(i)
        unc0 = old.uncorrectable if old is not None and old.uncorrectable is not None else 0
        ok0 = old.unerrored if old is not None and old.unerrored is not None else 10**6
        cor0 = old.corrected if old is not None and old.corrected is not None else 0
        step = rng.choice([0, 0, 0, 1, 5, 500, 20_000])
        downstream.append(
            DownstreamChannel(
                index=i,
                power_dbmv=_pick(rng, 0.0, [-16.0, -15.0, -6.1, -6.0, 15.0, 15.1]),
                snr_db=_pick(rng, 38.0, [29.9, 30.0, 32.9, 33.0]),
                unerrored=_counter(rng, ok0 + rng.choice([0, 100, 100_000])),
                corrected=_counter(rng, cor0 + rng.choice([0, 3])),
                uncorrectable=_counter(rng, unc0 + (step if rng.random() < 0.02 else 0)),
            )
        )
    upstream = [
        UpstreamChannel(
            index=i + 1,
            tx_power_dbmv=_pick(rng, 44.0, [34.9, 35.0, 51.0, 52.2, 52.3, 57.1]),
        )
        for i in range(rng.choice([0, 1, 2, 3, 4, 5]))
    ]
    t3 = prev.t3_timeouts if prev is not None and prev.t3_timeouts is not None else 0
    t4 = prev.t4_timeouts if prev is not None and prev.t4_timeouts is not None else 0
    return DocsisLine(
        downstream=downstream,
        upstream=upstream,
        cm_status=_pick(rng, 12, [6, 12]),  # type: ignore[arg-type]
        t3_timeouts=_counter(rng, t3 + rng.choice([0] * 30 + [4, 5])),
        t4_timeouts=_counter(rng, t4 + rng.choice([0] * 30 + [1])),
    )


def _full_docsis(line: DocsisLine, prev: DocsisLine | None) -> list[Finding]:
    """Every DOCSIS rule, no shortcut: the oracle."""
    out = [
        rules.docsis_registration(line, D),
        rules.docsis_ds_power(line, D),
        rules.docsis_ds_snr(line, D),
        rules.docsis_us_tx_power(line, D),
        rules.docsis_codewords(line, prev, D),
        rules.docsis_ranging_timeouts(line, prev, D),
    ]
    return [f for f in out if f is not None]


def test_docsis_clean_matches_the_full_rules() -> None:
    rng = random.Random(20261124)
    clean_seen = fault_seen = 0
    prev: DocsisLine | None = None
    for _ in range(4000):
        line = _line(rng, prev)
        p = prev if rng.random() < 0.9 else None
        full = _full_docsis(line, p)
        if rules.docsis_clean(line, p, D):
            assert full == [], (line, p)
            clean_seen += 1
        fault_seen += bool(full)
        got = rules.line_findings(
            SnmpReading(line=line), SnmpReading(line=p) if p else None, 300.0, D, TH.dsl, TH.gpon
        )
        assert got == full
        prev = line
    # Both sides of the shortcut were exercised.
    assert clean_seen > 400 and fault_seen > 400


def test_cached_messages_equal_plain_rendering() -> None:
    rng = random.Random(5)
    values: list[object] = ["N-1", "x", 1, 1.0, True, 0.5, "2026-11-24 01:20 UTC", None]
    names = ["node", "since", "affected", "unreachable", "facts", "reboots", "window", "age",
             "below", "tests", "ratio"]
    for _ in range(3000):
        params = {n: rng.choice(values) for n in rng.sample(names, rng.randrange(len(names)))}
        cause = rng.choice(list(msg.ACTIONS))
        assert msg.action_for(cause, params) == msg._FORMATTER.vformat(
            msg.ACTIONS[cause], (), msg._Blank(params)
        )
        texts = msg.CUSTOMER[msg._CUSTOMER_KEY.get(cause, cause)]
        want = {lang: msg._FORMATTER.vformat(texts[lang], (), msg._Blank(params))
                for lang in msg.LANGUAGES}
        got = msg.customer_message(cause, params)
        assert got == want
        got["en"] = "changed"  # callers own the dict they get
        assert msg.customer_message(cause, params) == want


def _records(rng: random.Random, account: str, at: float, prev: DocsisLine | None
             ) -> tuple[list[ProbeRecord], DocsisLine | None]:
    kind = rng.random()
    if kind < 0.1:
        snmp = ProbeRecord(account=account, probe="snmp", started_at=at, duration_s=2.0,
                           result=ProbeError(kind="timeout"))
        ping = PingResult(sent=5, received=rng.choice([0, 0, 5]))
        line = prev
    else:
        line = _line(rng, prev)
        uptime = rng.choice([1e6 + at, 1e6 + at, 10.0])
        snmp = ProbeRecord(
            account=account, probe="snmp", started_at=at, duration_s=0.1,
            result=SnmpReading(
                sys_uptime_s=uptime, line=line,
                interfaces=[InterfaceStatus(index=1, role="lan", oper_up=rng.random() < 0.95)],
            ),
        )
        ping = PingResult(sent=5, received=rng.choice([5, 5, 4]), rtt_avg_ms=8.0)
    return [snmp, ProbeRecord(account=account, probe="ping", started_at=at + 0.5,
                              duration_s=1.0, result=ping)], line


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_engine_verdicts_equal_full_judgement(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same random polls through an engine with the shortcuts and one without."""
    rng = random.Random(seed)
    tg = [Target(account=f"A{i:02d}", host="h", technology="docsis", node=f"N{i % 3}",
                 plan_down_mbps=100.0, plan_up_mbps=10.0) for i in range(30)]
    fast, full = VerdictEngine(TH, tg), VerdictEngine(TH, tg)
    lines: dict[str, DocsisLine | None] = {t.account: None for t in tg}
    t0 = 1_800_000_000.0
    for step in range(60):
        at = t0 + step * 300.0
        batch: list[ProbeRecord] = []
        for t in rng.sample(tg, rng.randrange(1, len(tg))):
            recs, lines[t.account] = _records(rng, t.account, at, lines[t.account])
            batch += recs
        out_fast = fast.observe(batch, at + 5)
        with monkeypatch.context() as m:
            m.setattr(rules.docsis, "docsis_clean", lambda *a: False)
            m.setattr(msg, "_render", lambda t, p: msg._FORMATTER.vformat(t, (), msg._Blank(p)))
            out_full = full.observe(batch, at + 5)
        assert out_fast.verdicts == out_full.verdicts
        assert out_fast.events == out_full.events
        assert out_fast.node_states == out_full.node_states
        for t in tg:
            assert fast.verdict(t.account, at + 5) == full.verdict(t.account, at + 5)


def _docsis_metrics_reference(line: DocsisLine) -> dict[str, float]:
    """The plain min/max/sum definition of the DOCSIS chart metrics."""
    m: dict[str, float] = {}
    powers = [c.power_dbmv for c in line.downstream if c.power_dbmv is not None]
    if powers:
        m["ds_power_dbmv_min"], m["ds_power_dbmv_max"] = min(powers), max(powers)
    snrs = [c.snr_db for c in line.downstream if c.snr_db is not None]
    if snrs:
        m["ds_snr_db_min"] = min(snrs)
    tx = [c.tx_power_dbmv for c in line.upstream if c.tx_power_dbmv is not None]
    if tx:
        m["us_tx_power_dbmv_max"] = max(tx)
    unc = [c.uncorrectable for c in line.downstream if c.uncorrectable is not None]
    if unc:
        m["uncorrectable"] = float(sum(unc))
    return m


def test_history_point_one_pass_equals_reference() -> None:
    rng = random.Random(11)
    prev: DocsisLine | None = None
    for i in range(2000):
        line = _line(rng, prev)
        if i % 7 == 0:  # sparse readings too: whole columns missing
            line = DocsisLine(
                downstream=[DownstreamChannel(index=c.index, snr_db=c.snr_db)
                            for c in line.downstream[: rng.randrange(3)]],
                upstream=[UpstreamChannel(index=1)] if rng.random() < 0.5 else [],
            )
        rec = ProbeRecord(account="A", probe="snmp", started_at=1.0, duration_s=0.1,
                          result=SnmpReading(line=line))
        point = history_point(rec)
        assert point is not None
        assert point.metrics == {"reachable": 1.0, **_docsis_metrics_reference(line)}
        prev = line
