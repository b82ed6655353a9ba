"""Verdicts: thresholds as data, small pure rules, node correlation, the engine.

``VerdictEngine`` is the entry point for the collector; ``rules`` and
``correlation`` are the pure functions it composes (tested one by one).
"""

from collector.verdicts.engine import EngineOutput, VerdictEngine
from collector.verdicts.rules import PRIORITY, Finding
from collector.verdicts.thresholds import ThresholdError, Thresholds

__all__ = ["PRIORITY", "EngineOutput", "Finding", "ThresholdError", "Thresholds", "VerdictEngine"]
