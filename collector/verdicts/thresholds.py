"""Verdict thresholds as data.

The defaults live in ``thresholds.toml`` beside this module (each citing its
source); this module only gives them types. ``Thresholds.load`` merges an
operator's TOML file and then explicit overrides over those defaults and
rejects unknown keys, so a misspelt option fails loudly instead of being ignored.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec

DEFAULTS_PATH = Path(__file__).with_name("thresholds.toml")


class ThresholdError(ValueError):
    """A thresholds file or override that cannot be used; the message says why."""


class _Section(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


class DocsisThresholds(_Section):
    ds_power_min_dbmv: float
    ds_power_max_dbmv: float
    snr_min_db: float
    snr_min_db_low_power: float
    snr_low_power_below_dbmv: float
    us_tx_power_max_dbmv: list[float]
    us_tx_power_min_dbmv: float
    uncorrectable_ratio_max: float
    codewords_min: int
    t3_rise_max: int
    t4_rise_max: int
    cm_status_operational: int

    def us_tx_max_for(self, channels: int) -> float:
        """Upper TX limit for ``channels`` bonded upstream channels (THRESHOLDS.md)."""
        table = self.us_tx_power_max_dbmv
        return table[min(max(channels, 1), len(table)) - 1]


class DslThresholds(_Section):
    snr_margin_bad_at_or_below_db: float
    attenuation_max_db: float
    crc_per_s_max: float


class GponThresholds(_Section):
    rx_power_min_dbm: float
    rx_power_max_dbm: float
    tx_power_min_dbm: float
    tx_power_max_dbm: float


class PingThresholds(_Section):
    loss_ratio_max: float
    rtt_avg_max_ms: float


class ThroughputThresholds(_Section):
    customer_side_min_ratio: float
    below_plan_ratio: float
    fresh_s: float


class FreshnessThresholds(_Section):
    poll_interval_s: float
    stale_after_s: float


class OutageThresholds(_Section):
    min_share: float
    min_count: int
    window_s: float
    clear_share: float
    clear_hold_s: float


class DegradedThresholds(_Section):
    below_plan_ratio: float
    min_share: float
    min_tests: int
    window_s: float


class RebootThresholds(_Section):
    loop_count: int
    loop_window_s: float


class TrendThresholds(_Section):
    window_s: float
    ds_snr_fall_db: float
    us_tx_headroom_min_db: float
    uncorrectable_rise_min: int
    ranging_timeouts_rise_min: int
    dsl_margin_fall_db: float
    gpon_rx_fall_db: float


class PlantThresholds(_Section):
    min_count: int
    window_s: float
    clear_hold_s: float
    confirm_s: float


class PnmThresholds(_Section):
    """Upstream pre-equalization as CableLabs' PNM practice judges it (figures
    from probes/pnm.py; sources in thresholds.toml [pnm]). "monitor": poll and
    watch more often; "impaired": the plant needs a technician."""

    mtr_monitor_below_db: float
    mtr_impaired_below_db: float
    nmter_monitor_above_db: float
    nmter_impaired_above_db: float
    echo_monitor_dbc: float
    echo_impaired_dbc: float
    mtc_impaired_db: float
    echo_group_delay_tolerance_ns: float
    echo_group_level_tolerance_db: float
    echo_group_min_modems: int

    def __post_init__(self) -> None:
        """Relations a type cannot express (msgspec turns ValueError into a clear
        ThresholdError naming the section)."""
        problems = []
        if self.mtr_impaired_below_db > self.mtr_monitor_below_db:
            problems.append("mtr_impaired_below_db must not exceed mtr_monitor_below_db")
        if self.nmter_impaired_above_db < self.nmter_monitor_above_db:
            problems.append("nmter_impaired_above_db must not be below nmter_monitor_above_db")
        if self.echo_impaired_dbc < self.echo_monitor_dbc:
            problems.append("echo_impaired_dbc must not be below echo_monitor_dbc")
        if self.echo_group_delay_tolerance_ns <= 0 or self.echo_group_level_tolerance_db <= 0:
            problems.append("echo group tolerances must be > 0")
        if self.echo_group_min_modems < 2:
            problems.append("echo_group_min_modems must be >= 2 (one modem is its own drop)")
        if problems:
            raise ValueError("; ".join(problems))


class HeadendThresholds(_Section):
    fresh_s: float


class Thresholds(_Section):
    docsis: DocsisThresholds
    dsl: DslThresholds
    gpon: GponThresholds
    ping: PingThresholds
    throughput: ThroughputThresholds
    freshness: FreshnessThresholds
    outage: OutageThresholds
    degraded: DegradedThresholds
    reboot: RebootThresholds
    trend: TrendThresholds
    plant: PlantThresholds
    headend: HeadendThresholds
    pnm: PnmThresholds

    @classmethod
    def default(cls) -> Thresholds:
        return cls.load(None)

    @classmethod
    def load(
        cls, path: str | Path | None = None, overrides: Mapping[str, Any] | None = None
    ) -> Thresholds:
        """Defaults, then the TOML file at ``path``, then ``overrides``.

        ``overrides`` is nested (``{"outage": {"min_count": 3}}``) or dotted
        (``{"outage.min_count": 3}``).
        """
        merged = _read_toml(DEFAULTS_PATH)
        if path is not None:
            _merge(merged, _read_toml(Path(path)), str(path))
        if overrides:
            _merge(merged, _undot(overrides), "overrides")
        try:
            th = msgspec.convert(merged, cls)
        except msgspec.ValidationError as exc:
            where = f" in {path}" if path is not None else ""
            raise ThresholdError(f"invalid thresholds{where}: {exc}") from None
        _check(th)
        return th


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except OSError as exc:
        raise ThresholdError(f"cannot read thresholds file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ThresholdError(f"thresholds file {path} is not valid TOML: {exc}") from None


def _undot(overrides: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in overrides.items():
        parts = key.split(".")
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ThresholdError(f"override {key!r} conflicts with another override")
        if isinstance(value, Mapping):
            node.setdefault(parts[-1], {}).update(value)
        else:
            node[parts[-1]] = value
    return out


def _merge(base: dict[str, Any], extra: Mapping[str, Any], source: str, prefix: str = "") -> None:
    """Deep-merge ``extra`` into ``base``; any key not in the defaults is an error."""
    for key, value in extra.items():
        name = f"{prefix}{key}"
        if key not in base:
            known = ", ".join(sorted(base))
            raise ThresholdError(f"unknown threshold {name!r} in {source} (known here: {known})")
        if isinstance(base[key], dict):
            if not isinstance(value, Mapping):
                raise ThresholdError(f"threshold {name!r} in {source} must be a table")
            _merge(base[key], value, source, f"{name}.")
        else:
            base[key] = value


def _check(th: Thresholds) -> None:
    """Relations a type cannot express; each message names the keys."""
    problems: list[str] = []
    if not th.docsis.us_tx_power_max_dbmv:
        problems.append("docsis.us_tx_power_max_dbmv must list at least one value")
    for name, share in (
        ("outage.min_share", th.outage.min_share),
        ("outage.clear_share", th.outage.clear_share),
        ("degraded.min_share", th.degraded.min_share),
    ):
        if not 0.0 < share <= 1.0:
            problems.append(f"{name} must be in (0, 1], got {share}")
    if th.outage.clear_share > th.outage.min_share:
        problems.append("outage.clear_share must not exceed outage.min_share (hysteresis)")
    if th.outage.min_count < 1:
        problems.append("outage.min_count must be >= 1")
    if th.plant.min_count < 2:
        problems.append("plant.min_count must be >= 2 (one dark modem is not a plant fault)")
    if th.reboot.loop_count < 2:
        problems.append("reboot.loop_count must be >= 2")
    for name, seconds in (
        ("freshness.stale_after_s", th.freshness.stale_after_s),
        ("freshness.poll_interval_s", th.freshness.poll_interval_s),
        ("outage.window_s", th.outage.window_s),
        ("degraded.window_s", th.degraded.window_s),
        ("reboot.loop_window_s", th.reboot.loop_window_s),
        ("throughput.fresh_s", th.throughput.fresh_s),
        ("trend.window_s", th.trend.window_s),
        ("plant.window_s", th.plant.window_s),
        ("headend.fresh_s", th.headend.fresh_s),
    ):
        if seconds <= 0:
            problems.append(f"{name} must be > 0, got {seconds}")
    if problems:
        raise ThresholdError("invalid thresholds: " + "; ".join(problems))
