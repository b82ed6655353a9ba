"""Echo signatures shared by modems of one node: one impairment, not many.

A micro-reflection's delay is the round trip between two impedance mismatches
(a loose connector, a water-logged tap, a kinked cable), so every modem whose
upstream passes between them carries the same echo: the same delay and about
the same level in its pre-equalizer (CableLabs CM-GL-PNMP groups modems by
their equalizer signatures the same way to localise one plant fault). Modems
with their own different echoes are each their own drop's problem.

Pure functions over ``ModemEcho`` values; the caller picks which modems and
echoes count (e.g. only echoes above the [pnm] monitoring level in
collector/verdicts/thresholds.toml) and passes the tolerances.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable

import msgspec

from probes.model import PreEqSummary
from probes.pnm import VELOCITY_FACTOR, echo_distance_m

# Half a tap at 5.12 Msym/s (195.3 ns per tap): echoes on the same tap group,
# echoes one tap apart (~25 m of cable) do not.
DELAY_TOLERANCE_NS = 100.0
# Modems behind one cavity see its echo about equally strong; 3 dB is a factor
# of two in echo power, well beyond the spread of one reflection's readings.
LEVEL_TOLERANCE_DB = 3.0


class ModemEcho(msgspec.Struct, frozen=True, kw_only=True):
    """A modem's strongest echo (its pre-equalizer's strongest post-main tap)."""

    account: str
    delay_ns: float
    level_dbc: float
    channel: int = 0  # upstream ifIndex it was seen on


class EchoGroup(msgspec.Struct, frozen=True, kw_only=True):
    """Modems of one node with the same echo signature: one impairment."""

    node: str
    accounts: tuple[str, ...]  # sorted
    delay_ns: float  # median of the members'
    level_dbc: float  # median of the members'
    distance_m: float  # of the median delay, at velocity_factor
    velocity_factor: float

    def describe(self) -> str:
        """One line for the evidence, e.g. "3 modems of node N-3 show ..."."""
        return (
            f"{len(self.accounts)} modems of node {self.node} show an echo at "
            f"~{self.distance_m:.0f} m ({self.delay_ns:.0f} ns, {self.level_dbc:.1f} dBc, "
            f"velocity factor {self.velocity_factor:g}): one impairment between two "
            "reflection points on the plant they share"
        )


def strongest_echo(account: str, pre_eq: Iterable[PreEqSummary] | None) -> ModemEcho | None:
    """The strongest decoded echo over a modem's upstream channels (the same
    impairment shows on all of them; the strongest reading is the clearest)."""
    found = [
        (s.echo_dbc, s.echo_delay_ns, s.index)
        for s in pre_eq or ()
        if s.error is None and s.echo_dbc is not None and s.echo_delay_ns is not None
    ]
    if not found:
        return None
    level, delay, channel = max(found, key=lambda f: f[0])  # first of equals
    return ModemEcho(account=account, delay_ns=delay, level_dbc=level, channel=channel)


def _split(items: list[ModemEcho], key: str, tolerance: float) -> list[list[ModemEcho]]:
    """Runs of ``items`` (sorted by ``key``) whose every member lies within
    ``tolerance`` of the run's first: no chaining across a wide span."""
    runs: list[list[ModemEcho]] = []
    for item in items:
        if runs and abs(getattr(item, key) - getattr(runs[-1][0], key)) <= tolerance:
            runs[-1].append(item)
        else:
            runs.append([item])
    return runs


def group_echoes(
    node: str,
    echoes: Iterable[ModemEcho],
    *,
    delay_tolerance_ns: float = DELAY_TOLERANCE_NS,
    level_tolerance_db: float = LEVEL_TOLERANCE_DB,
    min_modems: int = 2,
    velocity_factor: float = VELOCITY_FACTOR,
) -> list[EchoGroup]:
    """Groups of ``min_modems`` or more modems (of ``node``) whose echoes have
    the same delay (within ``delay_tolerance_ns``) and a similar level (within
    ``level_tolerance_db``); largest group first. Each account counts once
    (its strongest echo); echoes with non-finite figures are ignored."""
    best: dict[str, ModemEcho] = {}
    for echo in echoes:
        finite = abs(echo.delay_ns) < 1e12 and abs(echo.level_dbc) < 1e3  # also drops NaN
        if not finite or echo.delay_ns <= 0:
            continue
        held = best.get(echo.account)
        if held is None or echo.level_dbc > held.level_dbc:
            best[echo.account] = echo
    by_delay = sorted(best.values(), key=lambda e: (e.delay_ns, -e.level_dbc, e.account))
    groups: list[EchoGroup] = []
    for run in _split(by_delay, "delay_ns", delay_tolerance_ns):
        if len(run) < max(min_modems, 1):
            continue
        by_level = sorted(run, key=lambda e: (-e.level_dbc, e.account))  # strongest first
        for members in _split(by_level, "level_dbc", level_tolerance_db):
            if len(members) < max(min_modems, 1):
                continue
            delay = statistics.median(e.delay_ns for e in members)
            groups.append(
                EchoGroup(
                    node=node,
                    accounts=tuple(sorted(e.account for e in members)),
                    delay_ns=delay,
                    level_dbc=statistics.median(e.level_dbc for e in members),
                    distance_m=echo_distance_m(delay, velocity_factor),
                    velocity_factor=velocity_factor,
                )
            )
    groups.sort(key=lambda g: (-len(g.accounts), g.delay_ns, g.accounts))
    return groups
