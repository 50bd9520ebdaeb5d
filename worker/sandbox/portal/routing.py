"""Which portal a request is for, and how an error is answered: shared by every route.

Every portal's routes live under ``/p/{domain}/``; the default portal, if the application
has one, also without the prefix.
"""

from __future__ import annotations

import json

from aiohttp import web

from worker.sandbox.portal.errors import ApiError
from worker.sandbox.portal.state import PortalState

PORTALS = web.AppKey[dict[str, PortalState]]("sandbox_portals")
DEFAULT = web.AppKey("sandbox_default_portal", str)
PREFIX = "/p/{domain}"


def error_response(exc: ApiError) -> web.Response:
    return web.json_response(exc.body(), status=exc.status)


def portal_state(request: web.Request) -> PortalState:
    """The portal a request is for: ``/p/{domain}/…``, else the default portal."""
    domain = request.match_info.get("domain", request.app[DEFAULT]).lower()
    state = request.app[PORTALS].get(domain)
    if state is None:
        body = {"error": "PORTAL_NOT_FOUND", "error_description": "No such portal here"}
        raise web.HTTPNotFound(text=json.dumps(body), content_type="application/json")
    return state
