"""probes/pnm_groups.py: modems of one node with the same echo are one impairment."""

from __future__ import annotations

import math

import pytest

from probes.model import PreEqSummary
from probes.pnm_groups import EchoGroup, ModemEcho, group_echoes, strongest_echo

TAP_NS = 1e9 / 5.12e6  # 195.3125 ns: one tap at 5.12 Msym/s


def echo(account: str, taps: float, dbc: float) -> ModemEcho:
    return ModemEcho(account=account, delay_ns=taps * TAP_NS, level_dbc=dbc)


def test_three_modems_with_one_echo_are_one_impairment() -> None:
    echoes = [
        echo("ACC-1", 3, -20.0),
        echo("ACC-2", 3, -21.5),
        echo("ACC-3", 3, -19.0),
        echo("ACC-4", 2, -20.0),  # its own echo, one tap (~25 m) shorter
        echo("ACC-5", 3, -33.0),  # same delay, far weaker: another cavity
    ]
    [group] = group_echoes("N-3", echoes)
    assert group.accounts == ("ACC-1", "ACC-2", "ACC-3")
    assert group.delay_ns == pytest.approx(585.9375)
    assert group.level_dbc == -20.0  # median
    # 585.9375 ns x 299792458 m/s x 0.87 / 2 = 76.41 m
    assert group.distance_m == pytest.approx(76.4119, abs=1e-4)
    assert group.describe().startswith("3 modems of node N-3 show an echo at ~76 m (586 ns")
    assert "one impairment" in group.describe()


def test_tolerances_bound_a_group_without_chaining() -> None:
    # 0, 90 and 180 ns apart: within 100 ns of the first are the first two only.
    echoes = [
        ModemEcho(account="a", delay_ns=500.0, level_dbc=-20.0),
        ModemEcho(account="b", delay_ns=590.0, level_dbc=-20.0),
        ModemEcho(account="c", delay_ns=680.0, level_dbc=-20.0),
    ]
    assert [g.accounts for g in group_echoes("N", echoes)] == [("a", "b")]
    assert [g.accounts for g in group_echoes("N", echoes, delay_tolerance_ns=200.0)] == [
        ("a", "b", "c")
    ]
    levels = [echo("x", 3, -20.0), echo("y", 3, -23.0), echo("z", 3, -23.1)]
    # within 3 dB of the strongest (-20.0): -23.0 is, -23.1 is not
    assert [g.accounts for g in group_echoes("N", levels)] == [("x", "y")]
    assert group_echoes("N", levels, min_modems=3) == []
    assert [g.accounts for g in group_echoes("N", levels, level_tolerance_db=4.0,
                                             min_modems=3)] == [("x", "y", "z")]


def test_largest_group_first_and_each_account_once() -> None:
    echoes = [
        echo("a", 2, -20.0), echo("b", 2, -20.5),
        echo("c", 5, -24.0), echo("d", 5, -24.0), echo("e", 5, -23.0),
        echo("c", 2, -40.0),  # c's weaker second reading: its strongest counts
    ]
    groups = group_echoes("N", echoes)
    assert [g.accounts for g in groups] == [("c", "d", "e"), ("a", "b")]
    assert all(isinstance(g, EchoGroup) for g in groups)


@pytest.mark.parametrize(
    "echoes",
    [
        [],
        [echo("only", 3, -20.0)],
        [ModemEcho(account="nan", delay_ns=math.nan, level_dbc=-20.0),
         ModemEcho(account="inf", delay_ns=585.9, level_dbc=math.inf),
         ModemEcho(account="zero", delay_ns=0.0, level_dbc=-20.0),
         echo("real", 3, -20.0)],
    ],
)
def test_nothing_to_group(echoes: list[ModemEcho]) -> None:
    assert group_echoes("N", echoes) == []


def test_strongest_echo_of_a_modem_over_its_channels() -> None:
    summaries = [
        PreEqSummary(index=4, echo_offset=3, echo_dbc=-26.0, echo_delay_ns=585.9),
        PreEqSummary(index=5, echo_offset=3, echo_dbc=-22.0, echo_delay_ns=585.9),
        PreEqSummary(index=6, error="length", error_detail="..."),
        PreEqSummary(index=7, mtr_db=100.0),  # no echo at all
    ]
    assert strongest_echo("ACC-1", summaries) == ModemEcho(
        account="ACC-1", delay_ns=585.9, level_dbc=-22.0, channel=5
    )
    assert strongest_echo("ACC-1", summaries[2:]) is None
    assert strongest_echo("ACC-1", None) is None
