"""The status page: plain server-rendered HTML with its CSS inline, no script, no build step.

What a person sees first is what needs them: the totals by verdict, then every portal with
out-of-sync lines (worst lines first, each with its findings), then the dead letters by
reason and the time of the last sweep, then every portal's counts. On a narrow screen the
tables become stacked cards (one CSS media query). Long lists are cut (``max_lines``,
``max_portals``) with a link to the JSON API that has them all, so the page stays small
with 10,000 portals. Every value from the event log is escaped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from html import escape
from urllib.parse import urlencode

from worker.status.views import (
    REAUTH_ACTION,
    Overview,
    PortalView,
    is_out_of_sync,
    verdict_of,
)
from worker.store import LineRecord


@dataclass(frozen=True, slots=True)
class DeadLetterGroup:
    reason: str
    type: str
    count: int


@dataclass(frozen=True, slots=True)
class DeadLetterView:
    """The dead-letter queue as last looked at (a cached summary; see its ``as_of``)."""

    depth: int | None  # messages in the queue (None: unknown)
    groups: list[DeadLetterGroup]  # by reason and type, from up to ``sampled`` letters
    sampled: int
    as_of: datetime | None
    problem: str | None = None  # why there is no (fresh) summary


CSS = """
:root{--bad:#b3261e;--warn:#8a5300;--ok:#1e6b35;--mute:#5f6368;--line:#dadce0;--bg:#fff;
--fg:#202124;--card:#f8f9fa}
*{box-sizing:border-box}
body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
color:var(--fg);background:var(--bg)}
header,main{max-width:1100px;margin:0 auto;padding:12px 16px}
header{border-bottom:1px solid var(--line)}
h1{font-size:1.3rem;margin:0 0 4px}
h2{font-size:1.1rem;margin:24px 0 8px}
h3{font-size:1rem;margin:16px 0 6px;word-break:break-all}
.meta{color:var(--mute);font-size:.9rem}
.chips{display:flex;flex-wrap:wrap;gap:6px;margin:8px 0;padding:0;list-style:none}
.chip{border:1px solid var(--line);border-radius:999px;padding:2px 10px;font-size:.85rem;
white-space:nowrap;background:var(--card)}
.chip.bad,.verdict.bad{color:var(--bad);border-color:var(--bad)}
.chip.ok,.verdict.ok{color:var(--ok)}
.chip.mute,.verdict.mute{color:var(--mute)}
table{width:100%;border-collapse:collapse;margin:4px 0 12px}
th,td{text-align:left;padding:6px 8px;border-bottom:1px solid var(--line);vertical-align:top}
th{font-size:.8rem;text-transform:uppercase;letter-spacing:.03em;color:var(--mute)}
td.findings{min-width:14em}
.findings ul{margin:0;padding-left:1.1em}
.verdict{font-weight:600;white-space:nowrap}
.more{color:var(--mute);font-style:italic}
.empty{color:var(--ok);font-weight:600}
.alert{border:2px solid var(--bad);border-radius:8px;padding:4px 14px;margin:12px 0;
overflow-wrap:anywhere}
.alert h2{color:var(--bad);margin-top:8px}
a{color:#1a56c4}
@media (max-width:640px){
 body{font-size:16px}
 table,thead,tbody,tr,th,td{display:block}
 thead{position:absolute;left:-9999px}
 tr{border:1px solid var(--line);border-radius:8px;margin:0 0 10px;padding:6px 10px;
 background:var(--card)}
 td{border:0;padding:3px 0}
 td::before{content:attr(data-label);display:block;font-size:.75rem;color:var(--mute);
 text-transform:uppercase}
}
"""


def _when(moment: datetime | None) -> str:
    if moment is None:
        return "-"
    return f'<time datetime="{moment.isoformat()}">{moment:%Y-%m-%d %H:%M:%S} UTC</time>'


def _tone(verdict: str) -> str:
    if verdict == "in_sync":
        return "ok"
    return "bad" if is_out_of_sync(verdict) else "mute"


def _chips(counts: dict[str, int]) -> str:
    items = "".join(
        f'<li class="chip {_tone(v)}" data-verdict="{escape(v)}">{escape(v)}: {n}</li>'
        for v, n in counts.items()
    )
    return f'<ul class="chips">{items}</ul>'


def _findings(line: LineRecord) -> str:
    if not line.findings:
        return "-"
    return "<ul>" + "".join(f"<li>{escape(f)}</li>" for f in line.findings) + "</ul>"


def _line_row(line: LineRecord) -> str:
    verdict = verdict_of(line)
    cells = [
        ("Line", f"{escape(line.title or '-')} <span class=meta>#{line.config_id}</span>"),
        ("Verdict", f'<span class="verdict {_tone(verdict)}">{escape(verdict)}</span>'),
        ("Since", _when(line.verdict_since)),
        ("Checked", _when(line.last_checked)),
        ("Findings", _findings(line)),
    ]
    tds = "".join(
        f'<td data-label="{label}"{" class=findings" if label == "Findings" else ""}>{value}</td>'
        for label, value in cells
    )
    return f'<tr class="line" data-verdict="{escape(verdict)}">{tds}</tr>'


def _lines_table(lines: Iterable[LineRecord]) -> str:
    head = "".join(f"<th>{h}</th>" for h in ("Line", "Verdict", "Since", "Checked", "Findings"))
    rows = "".join(_line_row(line) for line in lines)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def _attention(overview: Overview, max_lines: int) -> str:
    troubled = [v for v in overview.portals if v.out_of_sync]
    if not troubled:
        return '<h2>Out of sync</h2><p class="empty">Every checked line is in sync.</p>'
    parts = ["<h2>Out of sync</h2>"]
    shown = 0
    for view in troubled:
        lines = [line for line in view.lines if is_out_of_sync(line.verdict)]
        room = max_lines - shown
        if room <= 0:
            break
        parts.append(
            f'<section class="portal" data-portal="{escape(view.portal)}">'
            f"<h3>{escape(view.portal)}</h3>{_chips(view.counts)}"
            f"{_lines_table(lines[:room])}</section>"
        )
        shown += min(len(lines), room)
    total = sum(v.out_of_sync for v in troubled)
    if shown < total:
        link = "/v1/lines?" + urlencode({"out_of_sync": "1"})
        parts.append(
            f'<p class="more">{shown} of {total} out-of-sync lines shown; '
            f'<a href="{link}">all of them as JSON</a>.</p>'
        )
    return "".join(parts)


def _reauthorization(overview: Overview) -> str:
    """The portals whose OAuth pair is gone, first of all: nothing runs for them."""
    if not overview.reauthorization:
        return ""
    items = "".join(
        f"<li><strong>{escape(t.portal)}</strong> since {_when(t.reauth.since)} "
        f"({escape(t.reauth.reason)}): {escape(t.reauth.detail)}</li>"
        for t in overview.reauthorization
        if t.reauth is not None
    )
    return (
        '<section id="reauthorization" class="alert"><h2>Portals to authorise again</h2>'
        f"<ul>{items}</ul><p>{escape(REAUTH_ACTION)}</p></section>"
    )


def _dead_letters(view: DeadLetterView | None) -> str:
    parts = ["<h2>Dead letters</h2>"]
    if view is None:
        return parts[0] + '<p class="meta">Being looked at; reload in a moment.</p>'
    depth = "unknown" if view.depth is None else str(view.depth)
    parts.append(f'<p>In the dead-letter queue: <strong id="dlq-depth">{depth}</strong> ')
    parts.append(f'<span class="meta">(as of {_when(view.as_of)})</span></p>')
    if view.problem:
        parts.append(f'<p class="meta">{escape(view.problem)}</p>')
    if view.groups:
        rows = "".join(
            f'<tr><td data-label="Reason">{escape(g.reason)}</td>'
            f'<td data-label="Type">{escape(g.type)}</td>'
            f'<td data-label="Count">{g.count}</td></tr>'
            for g in view.groups
        )
        note = ""
        if view.depth is not None and view.sampled < view.depth:
            note = f'<p class="meta">By reason: the first {view.sampled} letters.</p>'
        parts.append(
            "<table><thead><tr><th>Reason</th><th>Type</th><th>Count</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>{note}"
        )
    return "".join(parts)


# The portal table's columns: (label, cell HTML of a portal). Another per-portal fact is one
# more entry here, fed by one more field on PortalView.
PORTAL_COLUMNS: tuple[tuple[str, Callable[[PortalView], str]], ...] = (
    ("Portal", lambda v: escape(v.portal)),
    ("Lines", lambda v: str(v.total)),
    ("Verdicts", lambda v: _chips(v.counts)),
    ("Last sweep", lambda v: _when(v.last_sweep)),
    ("Last callback", lambda v: _when(v.last_callback)),
)


def _portals(overview: Overview, max_portals: int) -> str:
    head = "".join(f"<th>{label}</th>" for label, _ in PORTAL_COLUMNS)
    rows = "".join(
        "<tr>"
        + "".join(f'<td data-label="{label}">{cell(v)}</td>' for label, cell in PORTAL_COLUMNS)
        + "</tr>"
        for v in overview.portals[:max_portals]
    )
    more = ""
    if len(overview.portals) > max_portals:
        more = (
            f'<p class="more">{max_portals} of {len(overview.portals)} portals shown; '
            '<a href="/v1/portals">all of them as JSON</a>.</p>'
        )
    return (
        f"<h2>Portals</h2><table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>{more}"
    )


def page(
    overview: Overview,
    *,
    dead_letters: DeadLetterView | None,
    now: datetime,
    max_lines: int = 500,
    max_portals: int = 500,
    refresh_seconds: int = 30,
) -> str:
    """The whole page. ``overview`` holds the out-of-sync lines and every portal's counts."""
    totals = overview.totals()
    sweep = "no sweep reported yet"
    if overview.last_sweep is not None:
        sweep = f"{_when(overview.last_sweep[1])} ({escape(overview.last_sweep[0])})"
    lines_total = sum(totals.values())
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f'<meta http-equiv="refresh" content="{refresh_seconds}">'
        f"<title>sipline status</title><style>{CSS}</style></head><body>"
        "<header><h1>sipline status</h1>"
        f'<p class="meta">{len(overview.portals)} portals, {lines_total} lines · '
        f'last sweep: <span id="last-sweep">{sweep}</span> · page made {_when(now)}</p>'
        f"{_chips(totals)}</header><main>"
        f"{_reauthorization(overview)}"
        f"{_attention(overview, max_lines)}{_dead_letters(dead_letters)}"
        f"{_portals(overview, max_portals)}</main></body></html>"
    )
