"""The portal's admin routes (``/_sandbox/…``): counters, every line, faults, bucket,
tokens, the application's install and uninstall, and ``/_sandbox/host/…`` for every portal
at once.

They are neither counted nor limited: they are how tests and ``sipline sandbox-ctl`` in
another process steer the sandbox.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from worker.sandbox.portal import install
from worker.sandbox.portal.errors import ApiError
from worker.sandbox.portal.options import Faults, totals
from worker.sandbox.portal.routing import PORTALS, error_response, portal_state


async def get_counters(request: web.Request) -> web.Response:
    return web.json_response(portal_state(request).snapshot())


async def every_line(request: web.Request) -> web.Response:
    return web.json_response({"lines": portal_state(request).lines.every_line()})


async def reset_counters(request: web.Request) -> web.Response:
    portal_state(request).reset_counters()
    return web.json_response({"ok": True})


async def _fault_changes(request: web.Request) -> dict[str, Any] | web.Response:
    try:
        changes = await request.json()
        if not isinstance(changes, dict):
            raise TypeError("a JSON object is required")
        Faults().update(changes)  # validate before touching any portal
    except (ValueError, TypeError) as exc:
        return web.json_response({"error": str(exc)}, status=400)
    return changes


async def faults(request: web.Request) -> web.Response:
    state = portal_state(request)
    if request.method == "POST":
        changes = await _fault_changes(request)
        if isinstance(changes, web.Response):
            return changes
        state.faults.update(changes)
    return web.json_response(state.faults.as_dict())


async def bucket(request: web.Request) -> web.Response:
    state = portal_state(request)
    try:
        data = await request.json()
        state.bucket.configure(int(data["capacity"]), float(data["drain_per_second"]))
    except (ValueError, TypeError, KeyError) as exc:
        return web.json_response({"error": f"bad bucket: {type(exc).__name__}"}, status=400)
    return web.json_response(
        {"capacity": state.bucket.capacity, "drain": state.bucket.drain_per_second}
    )


async def expire_tokens(request: web.Request) -> web.Response:
    portal_state(request).oauth.expire_access_tokens()
    return web.json_response({"ok": True})


def _endpoints(request: web.Request) -> install.Endpoints:
    """The portal's REST URL and the OAuth server's, as the caller reached this sandbox."""
    origin = f"{request.scheme}://{request.host}"
    domain = request.match_info.get("domain")
    base = f"{origin}/p/{domain}" if domain else origin
    return install.Endpoints(client_endpoint=f"{base}/rest/", server_endpoint=f"{origin}/rest/")


async def _receiver(request: web.Request) -> dict[str, Any]:
    body = await request.json()
    if not isinstance(body, dict) or not str(body.get("url", "")).startswith(
        ("http://", "https://")
    ):
        raise ValueError("a JSON object with an http(s) url is required")
    return body


async def install_route(request: web.Request) -> web.Response:
    """``POST {"url": …, "version": "1"}``: perform the installation callback."""
    state = portal_state(request)
    try:
        body = await _receiver(request)
        delivery = await install.install(
            state, _endpoints(request), str(body["url"]), version=str(body.get("version", "1"))
        )
    except ValueError as exc:
        return web.json_response({"error": str(exc)}, status=400)
    except ApiError as exc:
        return error_response(exc)
    return web.json_response(delivery.as_dict())


async def uninstall_route(request: web.Request) -> web.Response:
    """``POST {"url": …, "clean": false}``: send ``ONAPPUNINSTALL`` and revoke the tokens."""
    state = portal_state(request)
    try:
        body = await _receiver(request)
        delivery = await install.uninstall(
            state, _endpoints(request), str(body["url"]), clean=bool(body.get("clean", False))
        )
    except ValueError as exc:
        return web.json_response({"error": str(exc)}, status=400)
    except ApiError as exc:
        return error_response(exc)
    return web.json_response(delivery.as_dict())


# --- every portal at once -------------------------------------------------------------
async def host_counters(request: web.Request) -> web.Response:
    """``{"portals": {domain: counters}, "totals": {...}}`` in one request."""
    portals = {domain: state.snapshot() for domain, state in request.app[PORTALS].items()}
    return web.json_response({"portals": portals, "totals": totals(portals.values())})


async def host_reset(request: web.Request) -> web.Response:
    for state in request.app[PORTALS].values():
        state.reset_counters()
    return web.json_response({"ok": True})


async def host_faults(request: web.Request) -> web.Response:
    changes = await _fault_changes(request)
    if isinstance(changes, web.Response):
        return changes
    for state in request.app[PORTALS].values():
        state.faults.update(changes)
    return web.json_response({"ok": True, "portals": len(request.app[PORTALS])})


async def host_portals(request: web.Request) -> web.Response:
    """The domains served here (no secrets)."""
    portals = request.app[PORTALS]
    return web.json_response(sorted(portals))


def add_admin_routes(router: web.UrlDispatcher, prefix: str) -> None:
    """One portal's admin routes under ``prefix``."""
    router.add_get(prefix + "/_sandbox/counters", get_counters)
    router.add_post(prefix + "/_sandbox/counters/reset", reset_counters)
    router.add_get(prefix + "/_sandbox/lines", every_line)
    router.add_route("*", prefix + "/_sandbox/faults", faults)
    router.add_post(prefix + "/_sandbox/bucket", bucket)
    router.add_post(prefix + "/_sandbox/oauth/expire", expire_tokens)
    router.add_post(prefix + "/_sandbox/install", install_route)
    router.add_post(prefix + "/_sandbox/uninstall", uninstall_route)


def add_host_routes(router: web.UrlDispatcher) -> None:
    """``/_sandbox/host/…``: every portal of the application."""
    router.add_get("/_sandbox/host/counters", host_counters)
    router.add_post("/_sandbox/host/counters/reset", host_reset)
    router.add_post("/_sandbox/host/faults", host_faults)
    router.add_get("/_sandbox/host/portals", host_portals)
