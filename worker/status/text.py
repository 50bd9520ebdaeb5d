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

import click

from worker.status.views import Overview, PortalView, is_out_of_sync, verdict_of
from worker.store import LineRecord

HEADERS = ("CONFIG_ID", "TITLE", "TYPE", "REG_ID", "VERDICT", "SINCE", "CHECKED", "FINDINGS")
_COLOURS = {"in_sync": "green", "unchecked": "bright_black"}


def _when(moment: datetime | None) -> str:
    # str() of a UTC datetime starts "YYYY-MM-DD HH:MM:SS"; many times faster than strftime
    return "-" if moment is None else str(moment)[:19]


def _cells(line: LineRecord) -> tuple[str, ...]:
    verdict = verdict_of(line) + (" (deleted)" if line.deleted else "")
    return (
        str(line.config_id),
        line.title or "-",
        line.line_type or "-",
        "-" if line.reg_id is None else str(line.reg_id),
        verdict,
        _when(line.verdict_since),
        _when(line.last_checked),
        "; ".join(line.findings) or "-",
    )


def _summary(view: PortalView) -> str:
    counts = ", ".join(f"{n} {verdict}" for verdict, n in view.counts.items())
    return f"{view.portal}: {view.total} lines ({counts or 'none'})"


def render(overview: Overview, *, terminal: bool, width: int = 120) -> Iterator[str]:
    """The lines of text to print, portal after portal."""
    for index, view in enumerate(overview.portals):
        yield from portal_table(view, first=index == 0, terminal=terminal, width=width)
    yield from ending(overview.last_sweep, shown=bool(overview.portals))


def portal_table(
    view: PortalView, *, first: bool, terminal: bool, width: int = 120
) -> Iterator[str]:
    """One portal's table, headed by its counts (a blank line before all but the first)."""
    if not first:
        yield ""
    head = _summary(view)
    yield click.style(head, bold=True) if terminal else head
    rows = [_cells(line) for line in view.lines]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(HEADERS[:-1])]
    yield _join(HEADERS, widths)
    room = max(width - sum(widths) - 2 * len(widths), 12)
    for line, row in zip(view.lines, rows, strict=True):
        if not terminal:
            yield _join(row, widths)
            continue
        padded = [cell.ljust(w) for cell, w in zip(row, widths, strict=False)]
        colour = _COLOURS.get(verdict_of(line), "red" if is_out_of_sync(line.verdict) else None)
        padded[4] = click.style(padded[4], fg=colour)
        yield "  ".join([*padded, _fit(row[-1], room)])


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
