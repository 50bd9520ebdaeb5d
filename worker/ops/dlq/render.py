"""Rich tables for a terminal; every body and header shown is masked first.

Every value is wrapped in ``Text``: a body or an error message is data, never rich markup.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime, timedelta

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from worker.ops.dlq import views
from worker.ops.dlq.model import DeadLetter
from worker.ops.dlq.replay import ReplayReport
from worker.ops.dlq.summary import Group as Summary


def when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else "-"


def duration(age: timedelta | None) -> str:
    """``45s``, ``12m``, ``5h12m``, ``3d4h``."""
    if age is None:
        return "-"
    seconds = max(int(age.total_seconds()), 0)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86400:
        return f"{seconds // 3600}h{(seconds % 3600) // 60}m"
    return f"{seconds // 86400}d{(seconds % 86400) // 3600}h"


def cells(*values: object) -> list[Text]:
    return [Text("-" if value is None else str(value)) for value in values]


def letters_table(letters: Iterable[DeadLetter], now: datetime) -> Table:
    table = Table(title="Dead letters", show_lines=False)
    table.add_column("id", no_wrap=True)
    for column in ("type", "portal", "reason", "attempts", "replays"):
        table.add_column(column, overflow="fold")
    for column in ("first failure", "last failure", "age"):
        table.add_column(column, no_wrap=True)
    for letter in letters:
        table.add_row(
            *cells(
                letter.id,
                letter.type,
                letter.portal,
                letter.reason,
                letter.attempts,
                letter.replay_count,
                when(letter.first_failure),
                when(letter.last_failure),
                duration(letter.age(now)),
            )
        )
    return table


def summary_table(groups: Iterable[Summary]) -> Table:
    table = Table(title="Dead letters by reason and type")
    for column in ("reason", "type", "count", "first failure", "last failure"):
        table.add_column(column, justify="right" if column == "count" else "left")
    for group in groups:
        table.add_row(
            *cells(
                group.reason,
                group.type,
                group.count,
                when(group.first_failure),
                when(group.last_failure),
            )
        )
    return table


def _pairs(title: str, pairs: Iterable[tuple[str, object]]) -> Table:
    table = Table(title=Text(title), show_header=False, title_justify="left")
    table.add_column("key", style="bold")
    table.add_column("value", overflow="fold")
    for key, value in pairs:
        table.add_row(*cells(key, value))
    return table


def _history(letter: DeadLetter) -> Table:
    table = Table(title="Failure history", title_justify="left")
    for column in ("at", "attempt", "code", "message"):
        table.add_column(column, overflow="fold")
    for entry in letter.history:
        attempt = entry.get("attempt", entry.get("count"))
        table.add_row(*cells(entry.get("at"), attempt, entry.get("code"), entry.get("message", "")))
    return table


def detail(letter: DeadLetter, now: datetime) -> Group:
    """Everything about one dead letter: summary, headers, history, masked body."""
    view = views.detail(letter, now)
    summary = _pairs(
        f"Dead letter {letter.id}",
        [
            ("type", letter.type),
            ("portal", letter.portal),
            ("reason", letter.reason),
            ("made by", "broker" if letter.broker_made else "worker"),
            ("error", f"{letter.error_code or '-'}: {letter.error_message or ''}"),
            ("attempts", letter.attempts),
            ("replays", letter.replay_count),
            ("first failure", when(letter.first_failure)),
            ("last failure", when(letter.last_failure)),
            ("age", duration(letter.age(now))),
            ("replays to", letter.replay_routing_key),
        ],
    )
    parts: list[Table | Panel] = [summary]
    if letter.field_errors:
        parts.append(
            _pairs(
                "Field errors",
                [(str(e.get("field")), e.get("problem")) for e in letter.field_errors],
            )
        )
    parts.append(_pairs("Properties", view["properties"].items()))
    parts.append(_pairs("Headers", [(k, json.dumps(v)) for k, v in view["headers"].items()]))
    parts.append(_history(letter))
    parts.append(Panel(Text(_pretty(view["body"])), title="Body (passwords masked)"))
    return Group(*parts)


def _pretty(body: str) -> str:
    try:
        return json.dumps(json.loads(body), indent=2, ensure_ascii=False)
    except (ValueError, RecursionError):  # not JSON, or nested too deep to indent
        return body


def replay_report(console: Console, report: ReplayReport, now: datetime) -> None:
    verb = "would replay" if report.dry_run else "replayed"
    if report.replayed:
        console.print(letters_table(report.replayed, now))
    console.print(Text(f"{verb}: {len(report.replayed)}"))
    if report.refused:
        refused = ", ".join(letter.id for letter in report.refused)
        console.print(Text(f"refused (replay cap reached): {len(report.refused)}: {refused}"))
    if report.error:
        console.print(Text(f"stopped: {report.error}", style="red"))
