"""The sandbox portal's HTTP side: REST routes, OAuth token endpoint, admin endpoints.

One application serves one portal or many.  Every portal's routes live under
``/p/{domain}/`` (``/p/{domain}/rest/…``, ``/p/{domain}/_sandbox/…``); the default portal, if
there is one, is also served without the prefix, as a portal on its own port always was.
``/oauth/token/`` is shared, as Bitrix24's OAuth server is: it finds the portal by the
refresh token.  ``/_sandbox/host/…`` reads or steers every portal at once.

A REST request is counted, then meets the injected faults, then the leaky bucket, then
authentication, then the method.  Admin endpoints (``/_sandbox/…``) are neither counted
nor limited: they are how tests and the CLI in another process steer the portal.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from worker.sandbox.portal.admin_routes import add_admin_routes, add_host_routes
from worker.sandbox.portal.errors import ApiError
from worker.sandbox.portal.params import parse_query, request_params
from worker.sandbox.portal.routing import DEFAULT, PORTALS, PREFIX, error_response, portal_state
from worker.sandbox.portal.state import PortalState

_WEBHOOK_PATH = re.compile(r"^((?:/p/[^/]+)?/rest/[^/]+/)[^/]+/")
HTML_PAGE = "<!DOCTYPE html><html><body><h1>502 Bad Gateway</h1>nginx</body></html>"


def mask_path(path: str) -> str:
    """The request path with the webhook code hidden."""
    return _WEBHOOK_PATH.sub(r"\1***/", path)


class MaskedAccessLogger(AbstractAccessLogger):
    """aiohttp's access log would print the webhook code; this one masks it."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.debug(
            "%s %s -> %s in %.3f s", request.method, mask_path(request.path), response.status, time
        )


async def _faults(state: PortalState, request: web.Request) -> web.StreamResponse | None:
    """An injected failure, or None to go on."""
    faults = state.faults
    if faults.latency > 0:
        await asyncio.sleep(faults.latency)
    injected = state.counters.injected
    if state.roll(faults.drop):
        injected["drop"] += 1
        if request.transport is not None:
            request.transport.close()
        return web.Response(status=500)  # never reaches the client
    if state.roll(faults.error_500):
        injected["error_500"] += 1
        return error_response(ApiError("INTERNAL_SERVER_ERROR", "Internal server error", 500))
    if state.roll(faults.html):
        injected["html"] += 1
        return web.Response(text=HTML_PAGE, content_type="text/html")
    if state.roll(faults.query_limit):
        injected["query_limit"] += 1
        return error_response(ApiError("QUERY_LIMIT_EXCEEDED", "Too many requests", 503))
    return None


async def _serve(
    request: web.Request, method: str, webhook: tuple[str, str] | None
) -> web.StreamResponse:
    state = portal_state(request)
    method = method.lower().removesuffix(".json")
    state.counters.requests += 1
    state.counters.by_method[method] += 1
    stall = state.roll(state.faults.stall)
    response = await _admitted(request, state, method, webhook)
    if stall:  # the work is done; the answer comes late (a caller may have given up)
        state.counters.injected["stall"] += 1
        await asyncio.sleep(state.faults.stall_seconds)
    return response


async def _admitted(
    request: web.Request, state: PortalState, method: str, webhook: tuple[str, str] | None
) -> web.StreamResponse:
    injected = await _faults(state, request)
    if injected is not None:
        return injected
    if not state.bucket.take():
        state.counters.query_limit_rejections += 1
        return error_response(ApiError("QUERY_LIMIT_EXCEEDED", "Too many requests", 503))
    try:
        params = await request_params(request)
    except (ValueError, UnicodeDecodeError):
        return error_response(ApiError("INVALID_REQUEST", "The request body cannot be parsed", 400))
    try:
        app_id = _authenticate(state, params, webhook)
        return web.json_response(state.execute(method, params, app_id))
    except ApiError as exc:
        return error_response(exc)


def _authenticate(
    state: PortalState, params: dict[str, Any], webhook: tuple[str, str] | None
) -> str | None:
    """The caller's application id (None for a webhook), or the documented error."""
    if webhook is not None:
        user_id, code = webhook
        options = state.options
        if user_id != str(options.webhook_user_id) or code != options.webhook_code:
            # api-facts.md lists INVALID_CREDENTIALS with the 403s
            raise ApiError("INVALID_CREDENTIALS", "Invalid request credentials", 403)
        return None
    try:
        return state.oauth.check(params.pop("AUTH", None))
    except ApiError as exc:
        state.counters.auth_rejections[exc.code] += 1
        raise


async def webhook_call(request: web.Request) -> web.StreamResponse:
    info = request.match_info
    return await _serve(request, info["method"], (info["user_id"], info["code"]))


async def oauth_call(request: web.Request) -> web.StreamResponse:
    return await _serve(request, request.match_info["method"], None)


async def token(request: web.Request) -> web.Response:
    params: dict[str, Any] = parse_query(request.query_string)
    if request.method == "POST" and request.can_read_body:
        params.update(parse_query((await request.read()).decode("utf-8", "replace")))
    state = _token_owner(request, str(params.get("refresh_token") or ""))
    if state is None:
        return error_response(ApiError("invalid_grant", "Invalid refresh token", 400))
    try:
        body = state.oauth.refresh(params)
    except ApiError as exc:
        state.counters.auth_rejections[exc.code] += 1
        return error_response(exc)
    state.counters.token_refreshes += 1
    if state.faults.token_stall_seconds > 0:  # rotated; the answer comes late, if at all
        await asyncio.sleep(state.faults.token_stall_seconds)
    return web.json_response(body)


def _token_owner(request: web.Request, refresh_token: str) -> PortalState | None:
    """The portal a refresh token belongs to: named by the path, else found by the token."""
    if "domain" in request.match_info:
        return portal_state(request)
    portals = request.app[PORTALS]
    for state in portals.values():
        if state.oauth.knows(refresh_token):
            return state
    return portals.get(request.app[DEFAULT])


# --- the application ------------------------------------------------------------
async def listen(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, str]:
    """Serve ``app`` on ``host:port`` (0: any free port) with the masking access log;
    the runner and the origin URL."""
    runner = web.AppRunner(
        app,
        access_log_class=MaskedAccessLogger,
        access_log=logging.getLogger("worker.sandbox.portal.access"),
    )
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound_host, bound_port = runner.addresses[0][:2]
    return runner, f"http://{bound_host}:{bound_port}"


def build_app(state: PortalState) -> web.Application:
    """One portal as an aiohttp application (serve it with any runner)."""
    return build_host_app({state.options.domain: state}, default=state.options.domain)


def build_host_app(
    portals: dict[str, PortalState], *, default: str | None = None
) -> web.Application:
    """Many portals on one application; ``portals`` may grow while it serves."""
    app = web.Application(client_max_size=8 * 1024 * 1024)
    app[PORTALS] = portals
    app[DEFAULT] = (default or "").lower()
    for prefix in ("", PREFIX):
        add_portal_routes(app.router, prefix)
    add_host_routes(app.router)
    return app


def add_portal_routes(router: web.UrlDispatcher, prefix: str) -> None:
    """One portal's routes under ``prefix``."""
    router.add_route("*", prefix + r"/rest/{user_id}/{code}/{method}", webhook_call)
    router.add_route("*", prefix + "/rest/{method}", oauth_call)
    router.add_route("*", prefix + "/oauth/token/", token)
    router.add_route("*", prefix + "/oauth/token", token)
    add_admin_routes(router, prefix)
