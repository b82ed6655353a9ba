"""The demo's live view: the nodes and the scripted accounts, fitted to the terminal.

Built from the API's answers (``GET /v1/nodes``, ``GET /v1/accounts/{a}``) with
the CLI's tables (linewatch/tables.py), words and times, so at 80 columns the
view folds and drops low-priority columns instead of cutting node names to
"NODE…", and a wide terminal shows every column on one line. Language and
zone follow the environment, as ``linewatch status`` does.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from rich.console import Group
from rich.markup import escape
from rich.table import Table

from collector.i18n.words import evidence_text, verdict_word
from linewatch import client_cli
from linewatch.client_cli import _, action_words, nodes_table, stamp
from linewatch.tables import Col, fit_table

__all__ = ["accounts_table", "live_view"]

_ready = False


def _setup() -> None:
    global _ready
    if not _ready:
        client_cli.setup(argparse.Namespace())
        _ready = True


def accounts_table(accounts: Sequence[tuple[str, str, dict[str, Any]]], width: int) -> Table:
    """(account, expected verdict, its verdict from the API) per scripted account."""
    rows = []
    for account, expected, v in accounts:
        name = v.get("verdict", "?")
        style = "green" if name == expected else "yellow"
        evidence = "; ".join(
            evidence_text(e["fact"], e.get("value"), e.get("threshold"), e.get("unit"), None,
                          _, stamp)
            for e in (v.get("evidence") or [])[:3])
        rows.append([escape(account), escape(verdict_word(expected, _)),
                     f"[{style}]{escape(verdict_word(name, _))}[/]",
                     stamp(v["since"]) if v.get("since") else "", escape(evidence),
                     escape(action_words(v))])
    cols = [Col(_("account"), keep=True), Col(_("expected"), priority=2),
            Col(_("verdict"), keep=True), Col(_("since"), text=True, priority=3),
            Col(_("evidence"), text=True), Col(_("action"), text=True, priority=1)]
    return fit_table(escape(_("scripted accounts")), cols, rows, width)


def live_view(nodes: list[dict[str, Any]], accounts: Sequence[tuple[str, str, dict[str, Any]]],
              log: Sequence[str], width: int) -> Group:
    _setup()
    return Group(nodes_table(nodes, width), accounts_table(accounts, width), "\n".join(log))
