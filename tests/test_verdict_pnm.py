"""Pre-equalization (PNM) as verdict evidence (issue 15, part 4).

An impaired pre-equalizer is a line fault with the echo's distance in the
evidence; modems of one node with the same echo signature are said to share
one impairment; a modem with a mild echo (monitor level only) stays ok.
"""

from __future__ import annotations

from test_verdict_engine import POLL, REPLY, T0, current, docsis, names, rec, targets

from collector.verdicts import Thresholds, VerdictEngine
from probes.model import PreEqSummary, SnmpReading

TH = Thresholds.default()


def _with_echo(dbc: float | None, delay_ns: float = 390.6, up: float = 100_000.0) -> SnmpReading:
    base = docsis(uptime=up)
    assert base.line is not None
    pre_eq = [PreEqSummary(index=2, taps=24, main_tap=8, mtr_db=31.0, nmter_db=-31.0,
                           mtc_db=0.1, echo_offset=2, echo_dbc=dbc, echo_delay_ns=delay_ns,
                           echo_distance_m=delay_ns * 1e-9 * 299_792_458 * 0.87 / 2,
                           symbol_rate_sps=5.12e6, velocity_factor=0.87)]
    line = type(base.line)(**{**{f: getattr(base.line, f) for f in base.line.__struct_fields__},
                              "pre_eq": pre_eq})
    return SnmpReading(sys_uptime_s=base.sys_uptime_s, interfaces=base.interfaces, line=line)


def test_an_impaired_echo_is_a_line_fault_and_a_shared_one_is_one_impairment() -> None:
    ts = targets("N-5", 8)
    engine = VerdictEngine(TH, ts)
    accts = names(ts)
    echoing, mild = accts[:3], accts[3]
    for k in range(2):
        at = T0 + k * POLL
        up = 100_000.0 + k * POLL
        batch = []
        for a in accts:
            dbc = -16.0 if a in echoing else (-22.0 if a == mild else None)
            batch += [rec(a, at, _with_echo(dbc, up=up)), rec(a, at + 1, REPLY)]
        engine.observe(batch, at + 5)
    verdicts = current(engine, accts)
    assert [verdicts[a] for a in echoing] == ["line_fault"] * 3, verdicts
    assert verdicts[mild] == "ok" and verdicts[accts[4]] == "ok"
    v = engine.verdict(echoing[0])
    assert v is not None
    facts = {e.fact: e for e in v.evidence}
    echo = facts["us_pre_eq_echo_dbc"]
    assert echo.value == -16.0 and echo.threshold == "<= -18"
    assert "391 ns" in (echo.detail or "") and "~51 m" in (echo.detail or "")
    shared = facts["shared_echo_modems"]
    # The mild echo (-22 dBc) is more than 3 dB from the others: not in the group.
    assert shared.value == 3, shared
    assert "one impairment" in (shared.detail or "")
    assert all(o in (shared.detail or "") for o in echoing[1:])
