"""The sandbox account's HTTP surface: the Management API and an admin API for tests.

API routes, both forms the official clients use, by GET or POST, form or query parameters:

* ``/platform_api/{Method}`` (with or without a trailing slash)
* ``/platform_api`` with a ``cmd`` parameter

Admin routes (no token; the sandbox listens on loopback):

* ``POST /_sandbox/faults``: JSON ``{"latency": s}`` and/or ``{"kind", "status", "code",
  "message", "retry_after", "times"}`` and/or ``{"shares": {kind: share}, "stall": share,
  "stall_seconds": s}``; ``DELETE /_sandbox/faults`` clears them
* ``POST /_sandbox/registrations/{id}/diverge``: JSON of :class:`Divergence` fields;
  ``DELETE`` on the same path reports the truth again
* ``GET /_sandbox/stats``: the counters (requests, signatures, faults, callbacks)
* ``POST /_sandbox/callback``: JSON ``{"url": …, "salt": …}``, as ``SetAccountInfo`` does

API methods: ``GetSipRegistrations``; ``SetAccountInfo`` (``callback_url``,
``callback_salt`` of at most 40 characters) answers ``{"result": 1}``; ``GetAccountInfo``
answers the account's id, name, e-mail and callback URL (never the api_key: a JWT-authenticated
caller is not shown it, and never the salt).
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any, Protocol

from aiohttp import web

from worker.sandbox.registrations import RegistrationStore
from worker.sandbox.voximplant.callbacks import AccountCallbacks
from worker.sandbox.voximplant.faults import Fault, FaultInjector
from worker.sandbox.voximplant.sip_registrations import get_sip_registrations
from worker.sandbox.voximplant.verifier import ApiError, TokenVerifier

__all__ = ["Counters", "SandboxBackend", "build_app"]

_log = logging.getLogger(__name__)

MAX_SALT = 40

_DIVERGENCE_TYPES: dict[str, tuple[type, ...]] = {
    "deactivated": (bool,),
    "successful": (bool,),
    "status_code": (int,),
    "error_message": (str,),
    "proxy": (str,),
    "sip_username": (str,),
    "deleted": (bool,),
}


@dataclass(slots=True)
class Counters:
    """What the sandbox has served: API requests (faulted ones included)."""

    requests: int = 0


class SandboxBackend(Protocol):
    """What the routes need from the account."""

    store: RegistrationStore
    faults: FaultInjector
    counters: Counters
    default_page_size: int
    max_page_size: int
    account_id: int
    account_name: str
    account_email: str
    callbacks: AccountCallbacks

    @property
    def verifier(self) -> TokenVerifier: ...

    def stats(self) -> dict[str, int]: ...


def build_app(backend: SandboxBackend) -> web.Application:
    """The aiohttp application serving ``backend``."""
    routes = _Routes(backend)
    app = web.Application()
    for path in ("/platform_api", "/platform_api/"):
        app.router.add_route("*", path, routes.api)
    for path in ("/platform_api/{method}", "/platform_api/{method}/"):
        app.router.add_route("*", path, routes.api)
    app.router.add_post("/_sandbox/faults", routes.set_faults)
    app.router.add_delete("/_sandbox/faults", routes.clear_faults)
    app.router.add_post("/_sandbox/registrations/{reg_id}/diverge", routes.diverge)
    app.router.add_delete("/_sandbox/registrations/{reg_id}/diverge", routes.converge)
    app.router.add_post("/_sandbox/registrations/{reg_id}/refuse", routes.refuse)
    app.router.add_delete("/_sandbox/registrations/{reg_id}/refuse", routes.admit)
    app.router.add_get("/_sandbox/stats", routes.stats)
    app.router.add_post("/_sandbox/callback", routes.set_callback)
    return app


class _Routes:
    def __init__(self, backend: SandboxBackend) -> None:
        self.backend = backend

    async def api(self, request: web.Request) -> web.StreamResponse:
        backend = self.backend
        backend.counters.requests += 1
        if backend.faults.latency > 0:
            await asyncio.sleep(backend.faults.latency)
        stall = backend.faults.stall_for()
        if stall > 0:
            await asyncio.sleep(stall)  # then served as usual
        fault = backend.faults.take()
        if fault is not None:
            return await _serve_fault(request, fault)
        params = await _params(request)
        method = request.match_info.get("method") or params.pop("cmd", "")
        try:
            backend.verifier.verify_header(request.headers.get("Authorization"))
            body = self._method(method, params)
        except ApiError as exc:
            _log.debug("sandbox account refused %s with code %s", method or "(no cmd)", exc.code)
            body = exc.envelope()
        return web.json_response(body)

    def _method(self, method: str, params: dict[str, str]) -> dict[str, Any]:
        backend = self.backend
        if method == "GetSipRegistrations":
            return get_sip_registrations(
                backend.store,
                params,
                default_page_size=backend.default_page_size,
                max_page_size=backend.max_page_size,
            )
        if method == "SetAccountInfo":
            url, salt = params.get("callback_url"), params.get("callback_salt")
            _check_callback(url, salt)
            backend.callbacks.configure(url, salt)
            return {"result": 1}
        if method == "GetAccountInfo":
            result = {
                "account_id": backend.account_id,
                "account_name": backend.account_name,
                "account_email": backend.account_email,
                "active": True,
                "frozen": False,
                "callback_url": backend.callbacks.url,
            }
            return {"result": result}
        raise ApiError(103, "Unknown command")

    async def set_callback(self, request: web.Request) -> web.Response:
        try:
            spec = await request.json()
            if not isinstance(spec, dict) or set(spec) - {"url", "salt"}:
                raise TypeError('the body must be a JSON object with "url" and/or "salt"')
            url, salt = spec.get("url"), spec.get("salt")
            if not isinstance(url, str | None) or not isinstance(salt, str | None):
                raise TypeError("url and salt must be strings")
            _check_callback(url, salt)
        except (ValueError, TypeError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        except ApiError as exc:
            return web.json_response({"error": exc.msg}, status=400)
        self.backend.callbacks.configure(url, salt)
        return web.json_response({"ok": True, "callback_url": self.backend.callbacks.url})

    async def set_faults(self, request: web.Request) -> web.Response:
        try:
            spec = await request.json()
            if not isinstance(spec, dict):
                raise TypeError("the body must be a JSON object")
            self.backend.faults.configure(spec)
        except (ValueError, TypeError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response({"ok": True})

    async def clear_faults(self, _request: web.Request) -> web.Response:
        self.backend.faults.clear()
        return web.json_response({"ok": True})

    async def diverge(self, request: web.Request) -> web.Response:
        reg_id = _reg_id(request, self.backend.store)
        try:
            changes = await request.json()
            _check_divergence(changes)
        except (ValueError, TypeError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        self.backend.store.diverge(reg_id, **changes)
        return web.json_response({"ok": True})

    async def converge(self, request: web.Request) -> web.Response:
        reg_id = _reg_id(request, self.backend.store)
        self.backend.store.diverge(
            reg_id,
            deactivated=None,
            successful=None,
            status_code=None,
            error_message=None,
            proxy=None,
            sip_username=None,
            deleted=False,
        )
        return web.json_response({"ok": True})

    async def refuse(self, request: web.Request) -> web.Response:
        """The registrar refuses the registration from now on: it fails on both sides."""
        reg_id = _reg_id(request, self.backend.store)
        try:
            body = await request.json() if request.can_read_body else {}
        except ValueError:
            body = None
        code = body.get("status_code", 403) if isinstance(body, dict) else None
        message = body.get("error_message", "Forbidden") if isinstance(body, dict) else None
        if not isinstance(code, int) or isinstance(code, bool) or not isinstance(message, str):
            return web.json_response(
                {"error": "the body is {status_code: int, error_message: str}"}, status=400
            )
        self.backend.store.refuse(reg_id, status_code=code, error_message=message)
        return web.json_response({"ok": True})

    async def admit(self, request: web.Request) -> web.Response:
        reg_id = _reg_id(request, self.backend.store)
        self.backend.store.admit(reg_id)
        return web.json_response({"ok": True})

    async def stats(self, _request: web.Request) -> web.Response:
        return web.json_response(self.backend.stats())


async def _params(request: web.Request) -> dict[str, str]:
    """Query and form parameters together (the form wins)."""
    params = {k: v for k, v in request.query.items()}
    if request.can_read_body:
        form = await request.post()
        params.update({k: v for k, v in form.items() if isinstance(v, str)})
    return params


async def _serve_fault(request: web.Request, fault: Fault) -> web.StreamResponse:
    if fault.kind == "api_error":
        return web.json_response(ApiError(fault.code, fault.message).envelope())
    if fault.kind == "html":
        page = "<html><body><h1>502 Bad Gateway</h1></body></html>"
        return web.Response(text=page, content_type="text/html")
    if fault.kind == "drop":
        if request.transport is not None:
            request.transport.abort()
        return web.Response(status=500)  # never sent: the connection is gone
    headers = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else {}
    return web.Response(status=fault.status, text="Service unavailable", headers=headers)


def _reg_id(request: web.Request, store: RegistrationStore) -> int:
    raw = request.match_info["reg_id"]
    if not raw.isdigit() or store.get(int(raw)) is None:
        raise web.HTTPNotFound(
            text=json.dumps({"error": "no such registration"}), content_type="application/json"
        )
    return int(raw)


def _check_divergence(changes: Any) -> None:
    if not isinstance(changes, dict) or not changes:
        raise TypeError("the body must be a non-empty JSON object")
    for name, value in changes.items():
        types = _DIVERGENCE_TYPES.get(name)
        if types is None:
            raise ValueError(f"unknown divergence {name!r}")
        ok = value is None or (isinstance(value, types) and not _bool_as_int(value, types))
        if not ok or (name == "deleted" and value is None):
            raise ValueError(f"divergence {name!r} has the wrong type")


def _bool_as_int(value: object, types: tuple[type, ...]) -> bool:
    return isinstance(value, bool) and bool not in types


def _check_callback(url: str | None, salt: str | None) -> None:
    if url and not url.startswith(("http://", "https://")):
        raise ApiError(101, "Invalid arguments: callback_url must be an http(s) URL")
    if salt is not None and len(salt) > MAX_SALT:
        raise ApiError(101, f"Invalid arguments: callback_salt is longer than {MAX_SALT}")
