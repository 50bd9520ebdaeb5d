"""``GET /v1/portals`` and ``GET /v1/lines``: the line projection as JSON.

``/v1/lines`` takes ``portal``, ``verdict`` (repeatable, or comma-separated),
``out_of_sync=1`` and ``deleted=1``; lines come worst verdict first within each portal,
portals with out-of-sync lines first (the order of ``sipline status``). The field names
are those of ``sipline status --json`` (:func:`worker.status.views.line_json`).
A bad parameter is a 400 naming it; a store that cannot answer is a 503.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from contracts.events import Verdict
from worker.errors import SiplineError
from worker.status.query import Selection, StatusQuery
from worker.status.views import line_json, sweep_json

VERDICTS = frozenset(v.value for v in Verdict)
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


@dataclass(frozen=True, slots=True)
class StatusApiRoutes:
    query: StatusQuery

    def install(self, app: web.Application) -> None:
        app.router.add_get("/v1/portals", self.portals)
        app.router.add_get("/v1/lines", self.lines)

    async def portals(self, request: web.Request) -> web.Response:
        try:
            portals = await self.query.portals()
        except SiplineError as exc:
            return _unavailable(exc)
        return web.json_response({"portals": portals})

    async def lines(self, request: web.Request) -> web.Response:
        selection = selection_of(request)
        try:
            overview = await self.query.overview(selection)
        except SiplineError as exc:
            return _unavailable(exc)
        lines = [line_json(line) for view in overview.portals for line in view.lines]
        return web.json_response(
            {"count": len(lines), "lines": lines, "last_sweep": sweep_json(overview.last_sweep)}
        )


def _unavailable(exc: SiplineError) -> web.Response:
    return web.json_response({"error": f"the store cannot answer now ({exc.code})"}, status=503)
