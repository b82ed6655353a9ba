"""Tables that stay readable in any terminal width (the CLI and the demo's view).

Each column has a priority: 0 is always shown, higher numbers are dropped
first (highest, then rightmost) when the columns cannot all fit at their
minimum widths. Every column folds instead of cutting with "…", and a name
column (``keep``) asks for its longest name's width, so a node or account
name is whole on one line whenever the terminal allows; wider terminals give
the rest to the wide text columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from rich.table import Table
from rich.text import Text

__all__ = ["Col", "fit_table"]

Justify = Literal["left", "right", "center"]
# A table's own width per column: the borders and one space of padding each side.
_EDGE = 3
_WORD_CAP = 18  # a text column needs its longest word, up to this, to stay readable
_TEXT_FLOOR = 10  # ... and can fold long words down to this when nothing else gives


@dataclass(frozen=True)
class Col:
    header: str
    priority: int = 0  # 0: always; higher: dropped first under width
    justify: Justify = "left"
    keep: bool = False  # a name: ask for its whole width, never fold if it fits
    text: bool = False  # long text (evidence, action): folds at words, gives way first


def _plain(cell: str | Text) -> str:
    return cell.plain if isinstance(cell, Text) else Text.from_markup(cell).plain


def _need(col: Col, cells: list[str]) -> int:
    """The narrowest the column can be and still read well."""
    words = [w for text in [col.header, *cells] for w in text.split()]
    longest = max((len(w) for w in words), default=1)
    if col.keep:
        return max(len(c) for c in [*cells, col.header] if c) if cells else longest
    return min(longest, _WORD_CAP) if col.text else longest


def _natural(col: Col, cells: list[str]) -> int:
    return max((len(line) for text in [col.header, *cells] for line in text.splitlines()),
               default=1)


def _allot(needs: list[int], natural: list[int], keep: list[bool], room: int) -> list[int]:
    """Widths summing to ``room`` at most: names whole, each column at least its
    need, the rest shared by what the columns would still take."""
    widths = [natural[i] if keep[i] else needs[i] for i in range(len(needs))]
    spare = room - sum(widths)
    wants = [0 if keep[i] else max(0, natural[i] - needs[i]) for i in range(len(needs))]
    total = sum(wants)
    if spare > 0 and total:
        given = [min(w, spare * w // total) for w in wants]
        widths = [a + b for a, b in zip(widths, given, strict=True)]
        left = spare - sum(given)
        for i in sorted(range(len(wants)), key=lambda i: -(wants[i] - given[i])):
            if left <= 0:
                break
            if wants[i] > given[i]:
                widths[i] += 1
                left -= 1
    elif spare < 0:
        # Too narrow even so: the other columns fold within their words (text
        # first, down to _TEXT_FLOOR), and a name folds only as the last resort.
        for floor_of, which in ((lambda i: _TEXT_FLOOR, lambda i: not keep[i]),
                                (lambda i: 4, lambda i: not keep[i]),
                                (lambda i: 4, lambda i: keep[i])):
            for i in sorted(range(len(widths)), key=lambda i: -widths[i]):
                if spare >= 0:
                    break
                if which(i):
                    cut = max(0, min(-spare, widths[i] - floor_of(i)))
                    widths[i] -= cut
                    spare += cut
    return widths


def fit_table(title: str | None, cols: Sequence[Col], rows: Sequence[Sequence[str | Text]],
              width: int, **table_args: object) -> Table:
    """A rich Table of ``rows`` fitted to ``width`` columns (see the module text)."""
    plain = [[_plain(c) for c in row] for row in rows]
    needs = [_need(col, [row[i] for row in plain]) for i, col in enumerate(cols)]
    shown = list(range(len(cols)))
    while len(shown) > 1 and sum(needs[i] + _EDGE for i in shown) + 1 > width:
        droppable = [i for i in shown if cols[i].priority > 0]
        if not droppable:
            break
        shown.remove(max(droppable, key=lambda i: (cols[i].priority, i)))
    natural = [_natural(cols[i], [row[i] for row in plain]) for i in shown]
    room = width - len(shown) * _EDGE - 1
    fixed: list[int | None] = [None] * len(shown)
    if sum(natural) > room:  # rich's own collapse ignores min widths: do it here
        fixed = list(_allot([needs[i] for i in shown], natural,
                            [cols[i].keep for i in shown], room))
    if title and "min_width" not in table_args:
        # A narrow table would wrap a long title mid-phrase: widen it (up to the
        # terminal) so the title stays on one line where it can.
        table_args["min_width"] = min(Text.from_markup(title).cell_len, width)
    table = Table(title=title, **table_args)  # type: ignore[arg-type]
    for k, i in enumerate(shown):
        col = cols[i]
        table.add_column(col.header, justify=col.justify, overflow="fold", width=fixed[k])
    for row in rows:
        table.add_row(*(row[i] for i in shown))
    return table
