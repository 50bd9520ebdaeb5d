"""Lines and portals as people and programs read them: grouped, ordered, counted.

A line is *out of sync* when its last check found anything but ``in_sync``; a line never
checked yet (no verdict) is *unchecked*, neither in nor out of sync. Out-of-sync lines
come first, the worst verdicts first (:data:`VERDICT_ORDER`), so the page and the tables
open on what needs a person.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from contracts.verdicts import Verdict
from worker.store import LineRecord, TokenRecord

UNCHECKED = "unchecked"
# the order a person should look at verdicts in: broken first, fine last
VERDICT_ORDER: tuple[str, ...] = (
    Verdict.REGISTRATION_FAILED.value,
    Verdict.MISSING_REGISTRATION.value,
    Verdict.STATUS_MISMATCH.value,
    Verdict.CONFIG_DRIFT.value,
    Verdict.PENDING_TIMEOUT.value,
    Verdict.DEACTIVATED.value,
    UNCHECKED,
    Verdict.IN_SYNC.value,
)
OUT_OF_SYNC: frozenset[str] = frozenset(v.value for v in Verdict if v is not Verdict.IN_SYNC)
_RANK = {verdict: rank for rank, verdict in enumerate(VERDICT_ORDER)}


def verdict_of(line: LineRecord) -> str:
    return line.verdict or UNCHECKED


def is_out_of_sync(verdict: str | None) -> bool:
    return verdict in OUT_OF_SYNC


def attention_order(line: LineRecord) -> tuple[int, int]:
    """Sort key: worst verdict first, then by config id."""
    return (_RANK.get(verdict_of(line), len(_RANK)), line.config_id)


@dataclass(frozen=True, slots=True)
class PortalView:
    """One portal's lines (as selected), worst first, and its counts by verdict; when it
    was last swept and last named by a Voximplant callback, where the store knows."""

    portal: str
    lines: list[LineRecord]
    counts: dict[str, int] = field(default_factory=dict)
    last_sweep: datetime | None = None
    last_callback: datetime | None = None

    @property
    def out_of_sync(self) -> int:
        return sum(n for verdict, n in self.counts.items() if is_out_of_sync(verdict))

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True, slots=True)
class Activity:
    """portal → when it was last swept (``portal.swept``, the schedule's table) and last
    named by a Voximplant callback (the callback route's table)."""

    sweeps: Mapping[str, datetime] = field(default_factory=dict)
    callbacks: Mapping[str, datetime] = field(default_factory=dict)

    def portals(self) -> set[str]:
        return set(self.sweeps) | set(self.callbacks)


@dataclass(frozen=True, slots=True)
class Overview:
    """Every portal with lines, out-of-sync portals first; the last sweep the log reported."""

    portals: list[PortalView]
    last_sweep: tuple[str, datetime] | None = None
    reauthorization: list[TokenRecord] = field(default_factory=list)
    """The portals whose OAuth pair is gone (they need installing again)."""

    def totals(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for view in self.portals:
            for verdict, n in view.counts.items():
                totals[verdict] = totals.get(verdict, 0) + n
        return dict(sorted(totals.items(), key=lambda item: _RANK.get(item[0], len(_RANK))))


def counts_by_portal(counts: Mapping[tuple[str, str | None], int]) -> dict[str, dict[str, int]]:
    """The repository's (portal, verdict) counts as portal → verdict → n, worst first."""
    # (portal, rank) order first, so each portal's dict is built worst first: no sort per
    # portal (10,000 of them at fleet size)
    ranked = sorted(
        (
            (portal, _RANK.get(verdict or UNCHECKED, len(_RANK)), verdict or UNCHECKED, n)
            for (portal, verdict), n in counts.items()
        ),
        key=lambda item: item[1],
    )
    grouped: dict[str, dict[str, int]] = {}
    for portal, _, verdict, n in ranked:
        grouped.setdefault(portal, {})[verdict] = n
    return grouped


def group(
    lines: Iterable[LineRecord],
    counts: Mapping[str, Mapping[str, int]] | None = None,
    last_sweep: tuple[str, datetime] | None = None,
    *,
    every_portal: bool = False,
    activity: Activity | None = None,
) -> Overview:
    """Lines grouped per portal (worst first in each), portals with out-of-sync lines first;
    ``every_portal``: also the portals in ``counts`` that have none of ``lines``."""
    by_portal: dict[str, list[LineRecord]] = {}
    if every_portal and counts is not None:
        by_portal = {portal: [] for portal in counts}
    for line in lines:
        by_portal.setdefault(line.portal, []).append(line)
    views = []
    for portal, items in by_portal.items():
        items.sort(key=attention_order)
        views.append(_view(portal, items, counts or {}, activity))
    views.sort(key=lambda v: (v.out_of_sync == 0, v.portal))
    return Overview(views, last_sweep)


async def portal_views(
    batches: AsyncIterator[list[LineRecord]], counts: Mapping[str, Mapping[str, int]]
) -> AsyncIterator[PortalView]:
    """Lines that come portal after portal (as the store reads them) as one view per
    portal, each with the portal's counts; only one portal's lines are held at a time."""
    portal: str | None = None
    items: list[LineRecord] = []
    async for batch in batches:
        for line in batch:
            if line.portal != portal:
                if portal is not None:
                    yield _view(portal, items, counts)
                portal, items = line.portal, []
            items.append(line)
    if portal is not None:
        yield _view(portal, items, counts)


def _view(
    portal: str,
    items: list[LineRecord],
    counts: Mapping[str, Mapping[str, int]],
    activity: Activity | None = None,
) -> PortalView:
    own = counts.get(portal)
    seen = activity or _NO_ACTIVITY
    return PortalView(
        portal,
        items,
        dict(own) if own else _count(items),
        seen.sweeps.get(portal),
        seen.callbacks.get(portal),
    )


_NO_ACTIVITY = Activity()  # shared: a view per portal made 10,000 times


def portal_view(
    portal: str, counts: Mapping[str, Mapping[str, int]], activity: Activity
) -> PortalView:
    """A portal's counts and activity without its lines (``GET /v1/portals``)."""
    return _view(portal, [], counts, activity)


def _count(lines: Sequence[LineRecord]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for line in lines:
        if not line.deleted:
            verdict = line.verdict or UNCHECKED
            counts[verdict] = counts.get(verdict, 0) + 1
    return counts


# "00" to "59" by index: a month, day, hour, minute or second as two digits. An f-string of
# these is about three times as fast as "%02d", which formats an int each time; --json
# writes three times per line, the tables two
TWO_DIGITS: tuple[str, ...] = tuple(f"{n:02d}" for n in range(60))


def _iso(moment: datetime | None) -> str | None:
    """ISO 8601 with ``Z``, as ``isoformat`` writes it (microseconds when there are any),
    built from the fields: several times as fast as ``isoformat`` for the UTC times records
    hold, and ``--json`` makes three per line."""
    if moment is None:
        return None
    if moment.tzinfo is not UTC:
        return moment.isoformat().replace("+00:00", "Z")
    two = TWO_DIGITS
    fraction = f".{moment.microsecond:06d}Z" if moment.microsecond else "Z"
    return (
        f"{moment.year:04d}-{two[moment.month]}-{two[moment.day]}T"
        f"{two[moment.hour]}:{two[moment.minute]}:{two[moment.second]}{fraction}"
    )


def line_json(line: LineRecord) -> dict[str, Any]:
    """One line for ``--json`` and ``GET /v1/lines``; the field names are part of the API."""
    return {
        "portal": line.portal,
        "config_id": line.config_id,
        "title": line.title,
        "line_type": line.line_type,
        "reg_id": line.reg_id,
        "verdict": line.verdict,
        "out_of_sync": line.verdict in OUT_OF_SYNC,
        "verdict_since": _iso(line.verdict_since),
        "last_checked": _iso(line.last_checked),
        "findings": list(line.findings),
        "last_command_id": line.last_command_id,
        "deleted": line.deleted,
        "last_event_id": line.last_event_id,
        "last_event_at": _iso(line.last_event_at),
    }


def portal_json(view: PortalView) -> dict[str, Any]:
    return {
        "portal": view.portal,
        "lines": view.total,
        "out_of_sync": view.out_of_sync,
        "verdicts": dict(view.counts),
    }


REAUTH_ACTION = (
    "install the application on the portal again (or: sipline portals set DOMAIN "
    "--access-token-env VAR --refresh-token-env VAR), then: "
    "sipline dlq replay --reason reauthorization_required"
)
"""What an operator does for a portal that needs authorising again."""


def reauthorization_json(tokens: TokenRecord | None) -> dict[str, Any] | None:
    """A portal's need to be installed again (None: none), as every listing shows it."""
    if tokens is None or tokens.reauth is None:
        return None
    mark = tokens.reauth
    return {
        "required": True,
        "reason": mark.reason,
        "since": _iso(mark.since),
        "detail": mark.detail,
        "action": REAUTH_ACTION,
    }


def reauthorization_text(tokens: TokenRecord) -> str:
    """One line for a portal that needs authorising again."""
    mark = tokens.reauth
    assert mark is not None
    return (
        f"portal {tokens.portal} NEEDS AUTHORISING AGAIN since {_iso(mark.since)} "
        f"({mark.reason}): {REAUTH_ACTION}"
    )


def iso(moment: datetime | None) -> str | None:
    """A time as the JSON API writes it (``…Z``), or None."""
    return _iso(moment)


def sweep_json(last_sweep: tuple[str, datetime] | None) -> dict[str, Any] | None:
    if last_sweep is None:
        return None
    return {"portal": last_sweep[0], "time": _iso(last_sweep[1])}
