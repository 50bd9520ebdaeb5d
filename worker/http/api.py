"""``GET /v1/portals`` and ``GET /v1/lines``: the line projection as JSON.

``/v1/lines`` takes ``portal``, ``verdict`` (repeatable, or comma-separated),
``out_of_sync=1`` and ``deleted=1``, and pages: ``limit`` lines (default
:data:`DEFAULT_LIMIT`, at most :data:`MAX_LIMIT`) by portal, worst verdict first within
each, then config id; ``next`` is the URL of the page after (``after=`` an opaque cursor
naming the last line shown: keyset paging, so a page costs the same wherever it starts
and a line changing meanwhile is neither skipped nor repeated for being moved).
The field names are those of ``sipline status --json``
(:func:`worker.status.views.line_json`). ``/v1/portals`` pages the same way, by domain
(``limit``, ``after``, ``next``; ``count`` the items in the page). A bad parameter is a 400
naming it; a store that cannot answer is a 503.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from contracts.events import Verdict
from worker.errors import SiplineError
from worker.status.query import Selection, StatusQuery
from worker.status.views import line_json, sweep_json
from worker.store import LineKey

VERDICTS = frozenset(v.value for v in Verdict)
DEFAULT_LIMIT = 1000
MAX_LIMIT = 10_000
_TRUE = {"1", "true", "yes"}


def _flag(request: web.Request, name: str) -> bool:
    value = request.query.get(name, "").lower()
    if value not in _TRUE | {"", "0", "false", "no"}:
        raise _bad(f"{name} must be 1 or 0")
    return value in _TRUE


def _bad(message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(
        text=web.json_response({"error": message}).text, content_type="application/json"
    )


def selection_of(request: web.Request) -> Selection:
    """The query string as a :class:`Selection`; raises a 400 for a bad parameter."""
    verdicts = {
        part.strip()
        for value in request.query.getall("verdict", [])
        for part in value.split(",")
        if part.strip()
    }
    unknown = sorted(verdicts - VERDICTS)
    if unknown:
        raise _bad(f"unknown verdict {unknown[0]!r}; one of {', '.join(sorted(VERDICTS))}")
    portal = request.query.get("portal") or None
    return Selection(
        portal=portal,
        verdicts=frozenset(verdicts),
        out_of_sync=_flag(request, "out_of_sync"),
        include_deleted=_flag(request, "deleted"),
    )


def limit_of(request: web.Request) -> int:
    raw = request.query.get("limit", "")
    if not raw:
        return DEFAULT_LIMIT
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise _bad(f"limit must be a whole number from 1 to {MAX_LIMIT}")
    return int(raw)


def cursor(values: list[str | int]) -> str:
    """The opaque ``after`` value naming the last item shown (its key's values)."""
    raw = json.dumps(values, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _cursor_values(request: web.Request, kinds: tuple[type, ...]) -> list[Any] | None:
    """The ``after`` parameter's values, one of each of ``kinds``; None without one."""
    raw = request.query.get("after", "")
    if not raw:
        return None
    try:
        decoded = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        if not (
            isinstance(decoded, list)
            and len(decoded) == len(kinds)
            and all(type(v) is kind for v, kind in zip(decoded, kinds, strict=True))
        ):
            raise ValueError(decoded)
    except (ValueError, TypeError, binascii.Error):
        raise _bad("after must be the cursor a previous page gave in its next link") from None
    return decoded


def after_of(request: web.Request) -> LineKey | None:
    """The line a page of ``/v1/lines`` starts past."""
    values = _cursor_values(request, (str, int, int))
    return None if values is None else LineKey(*values)


def portal_after_of(request: web.Request) -> str | None:
    """The domain a page of ``/v1/portals`` starts past."""
    values = _cursor_values(request, (str,))
    return None if values is None else str(values[0])


def next_link(request: web.Request, last: list[str | int], limit: int) -> str:
    """This request's URL (path and query) for the page after the item keyed ``last``."""
    query = [(k, v) for k, v in request.query.items() if k not in ("after", "limit")]
    query += [("limit", str(limit)), ("after", cursor(last))]
    return f"{request.path}?{urlencode(query)}"


@dataclass(frozen=True, slots=True)
class StatusApiRoutes:
    query: StatusQuery

    def install(self, app: web.Application) -> None:
        app.router.add_get("/v1/portals", self.portals)
        app.router.add_get("/v1/lines", self.lines)

    async def portals(self, request: web.Request) -> web.Response:
        limit, after = limit_of(request), portal_after_of(request)
        try:
            page = await self.query.portals(after=after, limit=limit)
        except SiplineError as exc:
            return _unavailable(exc)
        following = None if page.after is None else next_link(request, [page.after], limit)
        return web.json_response(
            {"count": len(page.portals), "portals": page.portals, "next": following}
        )

    async def lines(self, request: web.Request) -> web.Response:
        selection = selection_of(request)
        limit, after = limit_of(request), after_of(request)
        try:
            page = await self.query.page(selection, after=after, limit=limit)
        except SiplineError as exc:
            return _unavailable(exc)
        lines = [line_json(line) for line in page.lines]
        return web.json_response(
            {
                "count": len(lines),
                "lines": lines,
                "next": None if page.after is None else next_link(request, _key(page.after), limit),
                "last_sweep": sweep_json(page.last_sweep),
            }
        )


def _key(key: LineKey) -> list[str | int]:
    return [key.portal, key.rank, key.config_id]


def _unavailable(exc: SiplineError) -> web.Response:
    return web.json_response({"error": f"the store cannot answer now ({exc.code})"}, status=503)
