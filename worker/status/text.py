"""``sipline status`` as text: one table per portal, worst lines first.

On a terminal the verdicts are coloured and long findings are cut to the screen's width;
into a pipe or a file the same columns come out plain and whole (one line per line, the
findings joined by ``; ``), so ``grep`` and ``awk`` work on them. The layout is written by
hand rather than with a table library, and a portal at a time (:func:`portal_table`, its
columns as wide as its own cells), so 50,000 lines print as they are read, within a second.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from functools import cache

import click

from worker.status.views import (
    TWO_DIGITS,
    UNCHECKED,
    Overview,
    PortalView,
    is_out_of_sync,
    verdict_of,
)
from worker.store import LineRecord

HEADERS = ("CONFIG_ID", "TITLE", "TYPE", "REG_ID", "VERDICT", "SINCE", "CHECKED", "FINDINGS")
_PADDED = HEADERS[:-1]  # every column but the findings is padded to its widest cell
_COLOURS = {"in_sync": "green", "unchecked": "bright_black"}


def _when(moment: datetime | None) -> str:
    """``YYYY-MM-DD HH:MM:SS`` (UTC), from the fields (many times as fast as ``strftime``):
    it is made twice per line."""
    if moment is None:
        return "-"
    two = TWO_DIGITS
    return (
        f"{moment.year:04d}-{two[moment.month]}-{two[moment.day]} "
        f"{two[moment.hour]}:{two[moment.minute]}:{two[moment.second]}"
    )


def _rows(lines: list[LineRecord]) -> list[tuple[str, ...]]:
    """Each line's cells, as text. One comprehension, no call per cell but the times': a
    portal's rows are made 10,000 times for one ``sipline status`` at fleet size. Fields
    are unpacked by position (a named tuple's attribute is a descriptor call each)."""
    when = _when
    return [
        (
            str(config_id),
            title or "-",
            line_type or "-",
            "-" if reg_id is None else str(reg_id),
            (verdict or UNCHECKED) + " (deleted)" if deleted else verdict or UNCHECKED,
            when(since),
            when(checked),
            "; ".join(findings) or "-",
        )
        for (
            _,
            config_id,
            title,
            line_type,
            reg_id,
            verdict,
            since,
            checked,
            findings,
            _,
            deleted,
            _,
            _,
        ) in lines
    ]


def _summary(view: PortalView) -> str:
    counts = view.counts
    text = ", ".join([f"{n} {verdict}" for verdict, n in counts.items()])
    return f"{view.portal}: {sum(counts.values())} lines ({text or 'none'})"


def render(overview: Overview, *, terminal: bool, width: int = 120) -> Iterator[str]:
    """The lines of text to print, portal after portal."""
    for index, view in enumerate(overview.portals):
        yield from portal_table(view, first=index == 0, terminal=terminal, width=width)
    yield from ending(overview.last_sweep, shown=bool(overview.portals))


def portal_table(view: PortalView, *, first: bool, terminal: bool, width: int = 120) -> list[str]:
    """One portal's table, headed by its counts (a blank line before all but the first)."""
    head = _summary(view)
    rows = _rows(view.lines)
    # each column as wide as its widest cell, the header's included; findings unpadded
    widths = [max(map(len, column)) for column in zip(_PADDED, *rows)]  # noqa: B905 (the findings are left out)
    table = [] if first else [""]
    if not terminal:
        # one %-format per line: the padding is done in C, not by a ljust per cell
        layout = _layout(tuple(widths))
        table.append(head)
        table.append(layout % HEADERS)
        table.extend([layout % row for row in rows])
        return table
    table.append(click.style(head, bold=True))
    table.append(_join(HEADERS, widths))
    room = max(width - sum(widths) - 2 * len(widths), 12)
    for line, row in zip(view.lines, rows, strict=True):
        padded = [cell.ljust(w) for cell, w in zip(row, widths, strict=False)]
        colour = _COLOURS.get(verdict_of(line), "red" if is_out_of_sync(line.verdict) else None)
        padded[4] = click.style(padded[4], fg=colour)
        table.append("  ".join([*padded, _fit(row[-1], room)]))
    return table


@cache
def _layout(widths: tuple[int, ...]) -> str:
    """The %-format of a plain row whose columns are ``widths`` wide (the last unpadded);
    portals share a handful of them."""
    return "".join(f"%-{w}s  " for w in widths) + "%s"


def ending(last_sweep: tuple[str, datetime] | None, *, shown: bool) -> Iterator[str]:
    """What closes the output: the last sweep, or that nothing matched."""
    if not shown:
        yield "no lines match"
        return
    if last_sweep is not None:
        portal, moment = last_sweep
        yield ""
        yield f"last sweep: {_when(moment)} UTC ({portal})"


def _join(cells: tuple[str, ...], widths: list[int]) -> str:
    padded = [cell.ljust(width) for cell, width in zip(cells, widths, strict=False)]
    return "  ".join([*padded, cells[-1]])


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
