"""The sandbox portal's HTTP side: REST routes, OAuth token endpoint, admin endpoints.

A REST request is counted, then meets the injected faults, then the leaky bucket, then
authentication, then the method.  Admin endpoints (``/_sandbox/…``) are neither counted
nor limited: they are how tests and the CLI in another process steer the portal.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from worker.sandbox.portal.errors import ApiError
from worker.sandbox.portal.params import parse_query, request_params
from worker.sandbox.portal.state import PortalState

STATE: web.AppKey[PortalState] = web.AppKey("sandbox_portal_state", PortalState)
_WEBHOOK_PATH = re.compile(r"^(/rest/[^/]+/)[^/]+/")
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


def _error(exc: ApiError) -> web.Response:
    return web.json_response(exc.body(), status=exc.status)


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
        return _error(ApiError("INTERNAL_SERVER_ERROR", "Internal server error", 500))
    if state.roll(faults.html):
        injected["html"] += 1
        return web.Response(text=HTML_PAGE, content_type="text/html")
    if state.roll(faults.query_limit):
        injected["query_limit"] += 1
        return _error(ApiError("QUERY_LIMIT_EXCEEDED", "Too many requests", 503))
    return None


async def _serve(
    request: web.Request, method: str, webhook: tuple[str, str] | None
) -> web.StreamResponse:
    state = request.app[STATE]
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
        return _error(ApiError("QUERY_LIMIT_EXCEEDED", "Too many requests", 503))
    try:
        params = await request_params(request)
    except (ValueError, UnicodeDecodeError):
        return _error(ApiError("INVALID_REQUEST", "The request body cannot be parsed", 400))
    try:
        app_id = _authenticate(state, params, webhook)
        return web.json_response(state.execute(method, params, app_id))
    except ApiError as exc:
        return _error(exc)


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
    return state.oauth.check(params.pop("AUTH", None))


async def webhook_call(request: web.Request) -> web.StreamResponse:
    info = request.match_info
    return await _serve(request, info["method"], (info["user_id"], info["code"]))


async def oauth_call(request: web.Request) -> web.StreamResponse:
    return await _serve(request, request.match_info["method"], None)


async def token(request: web.Request) -> web.Response:
    state = request.app[STATE]
    params: dict[str, Any] = parse_query(request.query_string)
    if request.method == "POST" and request.can_read_body:
        params.update(parse_query((await request.read()).decode("utf-8", "replace")))
    try:
        body = state.oauth.refresh(params)
    except ApiError as exc:
        return _error(exc)
    state.counters.token_refreshes += 1
    return web.json_response(body)


# --- admin -------------------------------------------------------------------------
async def get_counters(request: web.Request) -> web.Response:
    state = request.app[STATE]
    return web.json_response({**state.counters.snapshot(), "bucket_level": state.bucket.level})


async def reset_counters(request: web.Request) -> web.Response:
    request.app[STATE].counters.reset()
    return web.json_response({"ok": True})


async def faults(request: web.Request) -> web.Response:
    state = request.app[STATE]
    if request.method == "POST":
        try:
            changes = await request.json()
            if not isinstance(changes, dict):
                raise TypeError("a JSON object is required")
            state.faults.update(changes)
        except (ValueError, TypeError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
    return web.json_response(state.faults.as_dict())


async def bucket(request: web.Request) -> web.Response:
    state = request.app[STATE]
    try:
        data = await request.json()
        state.bucket.configure(int(data["capacity"]), float(data["drain_per_second"]))
    except (ValueError, TypeError, KeyError) as exc:
        return web.json_response({"error": f"bad bucket: {type(exc).__name__}"}, status=400)
    return web.json_response(
        {"capacity": state.bucket.capacity, "drain": state.bucket.drain_per_second}
    )


async def expire_tokens(request: web.Request) -> web.Response:
    request.app[STATE].oauth.expire_access_tokens()
    return web.json_response({"ok": True})


def build_app(state: PortalState) -> web.Application:
    """The portal as an aiohttp application (serve it with any runner)."""
    app = web.Application(client_max_size=8 * 1024 * 1024)
    app[STATE] = state
    app.router.add_route("*", r"/rest/{user_id}/{code}/{method}", webhook_call)
    app.router.add_route("*", "/rest/{method}", oauth_call)
    app.router.add_route("*", "/oauth/token/", token)
    app.router.add_route("*", "/oauth/token", token)
    app.router.add_get("/_sandbox/counters", get_counters)
    app.router.add_post("/_sandbox/counters/reset", reset_counters)
    app.router.add_route("*", "/_sandbox/faults", faults)
    app.router.add_post("/_sandbox/bucket", bucket)
    app.router.add_post("/_sandbox/oauth/expire", expire_tokens)
    return app
