"""Output: a rich table printed row by row (so ``--follow`` streams), or JSON Lines.

The table shows what an auditor scans for (offset, time, type, portal, line, verdict,
correlation id) and a one-line summary of ``data``; JSON Lines carry the full event and its
offset, for ``jq`` and for evidence. Records that do not parse are marked with ``⚠`` (table)
or a ``warning`` key (JSON). Nothing from a ``*password*`` field is ever printed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from rich.console import Console
from rich.table import Column, Table
from rich.text import Text

from worker.ops.events.record import LoggedEvent, redact_text

WARNING_MARK = "⚠"

# header, fixed width (None: the rest of the line), justification
_COLUMNS: tuple[tuple[str, int | None, str], ...] = (
    ("offset", 7, "right"),
    ("time (UTC)", 19, "left"),
    ("type", 18, "left"),
    ("portal", 24, "left"),
    ("line", 6, "right"),
    ("verdict", 20, "left"),
    ("correlation id", 26, "left"),
    ("summary", None, "left"),
)


def json_line(record: LoggedEvent) -> str:
    """One JSON Lines line: ``{"offset": …, "event": {…}}`` (or ``raw``), plus ``warning``."""
    return json.dumps(record.shown(), ensure_ascii=False, separators=(",", ":"))


def _created(d: Mapping[str, Any]) -> str:
    what = "already existed" if d.get("already_existed") else "created"
    return f"{what} {d.get('title')!r} ({d.get('line_type')}, reg {d.get('reg_id')})"


def _updated(d: Mapping[str, Any]) -> str:
    fields = ", ".join(str(f) for f in d.get("changed_fields") or []) or "nothing"
    return f"changed {fields}" + ("; re-registers" if d.get("reregistration") else "")


def _deleted(d: Mapping[str, Any]) -> str:
    what = "already absent" if d.get("already_absent") else "deleted"
    gone = "registration removed" if d.get("registration_removed") else "registration remains"
    return f"{what}; {gone}"


def _reconciled(d: Mapping[str, Any]) -> str:
    findings = "; ".join(str(f) for f in d.get("findings") or [])
    checks = f"after {d.get('attempts')} check(s)"
    if d.get("repair"):
        checks = f"repair {d.get('repair')}; {checks}"
    return f"{checks}: {findings}" if findings else checks


def _repaired(d: Mapping[str, Any]) -> str:
    fields = ", ".join(str(f) for f in d.get("reapplied_fields") or []) or "nothing"
    return (
        f"{d.get('verdict_before')} -> {d.get('verdict_after')} ({d.get('outcome')}): "
        f"re-applied {fields}; repair {d.get('repairs_in_window')} of "
        f"{d.get('repair_budget')} this hour"
    )


def _swept(d: Mapping[str, Any]) -> str:
    verdicts = d.get("verdicts") or {}
    counts = " ".join(f"{k}={v}" for k, v in sorted(verdicts.items()))
    text = f"{d.get('lines_checked')} checked, {d.get('lines_pending')} pending; {counts}"
    orphans = d.get("orphans")
    if isinstance(orphans, Mapping):
        text += f"; {orphans.get('count')} orphan registration(s)"
    return text


def _failed(d: Mapping[str, Any]) -> str:
    why = " (retries ran out)" if d.get("retryable") else ""
    return f"{d.get('command_type')} {d.get('error_code')}: {d.get('message')}{why}"


def _rejected(d: Mapping[str, Any]) -> str:
    return f"{d.get('command_type') or '?'} {d.get('reason')}: {d.get('message')}"


def _replayed(d: Mapping[str, Any]) -> str:
    return f"{d.get('command_type')} replay #{d.get('replay_count')}"


def _any(d: Mapping[str, Any]) -> str:
    return json.dumps(d, ensure_ascii=False)


_SUMMARIES: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "line.created": _created,
    "line.updated": _updated,
    "line.deleted": _deleted,
    "line.reconciled": _reconciled,
    "line.repaired": _repaired,
    "portal.swept": _swept,
    "command.failed": _failed,
    "command.rejected": _rejected,
    "command.replayed": _replayed,
}


def summary(record: LoggedEvent) -> str:
    """A short, human summary of the event's data (secrets redacted)."""
    if record.document is None:
        raw = redact_text(record.body.decode("utf-8", errors="replace"))
        return f"{record.problem}: {raw[:200]!r}"
    summarize = _SUMMARIES.get(record.type or "", _any)
    text = summarize(record.data)
    return f"does not parse ({record.problem}); {text}" if record.problem else text


def _table(*, header: bool, rest: int) -> Table:
    columns = [
        Column(
            name,
            width=width or rest,
            min_width=width or rest,
            max_width=width or rest,
            justify="right" if justify == "right" else "left",
            no_wrap=True,
            overflow="ellipsis",
        )
        for name, width, justify in _COLUMNS
    ]
    return Table(*columns, show_header=header, box=None, pad_edge=False, header_style="bold")


def cells(record: LoggedEvent) -> list[Text]:
    """The table cells of one record."""
    moment = record.time
    kind = record.type or "?"
    values = [
        str(record.offset),
        moment.strftime("%Y-%m-%d %H:%M:%S") if moment else "",
        kind if record.valid else f"{WARNING_MARK} {kind}",
        record.portal or "",
        "" if record.line is None else str(record.line),
        record.verdict or "",
        record.correlationid or "",
        summary(record),
    ]
    style = "" if record.valid else "yellow"
    return [Text(value, style=style) for value in values]


class TableRenderer:
    """Prints a header once, then one aligned row per record as it arrives."""

    def __init__(self, *, console: Console) -> None:
        self._console = console
        self._header_done = False
        fixed = sum(width or 0 for _, width, _ in _COLUMNS) + 2 * (len(_COLUMNS) - 1)
        # every row is its own table: fix the summary's width too, so rows never reflow
        self._rest = max(20, console.width - fixed)

    def row(self, record: LoggedEvent) -> None:
        if not self._header_done:
            self._console.print(_table(header=True, rest=self._rest))
            self._header_done = True
        table = _table(header=False, rest=self._rest)
        table.add_row(*cells(record))
        self._console.print(table)
