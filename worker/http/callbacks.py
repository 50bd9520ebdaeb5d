"""``POST /voximplant/callbacks``: Voximplant's account callbacks (a thin route).

Answers, so that Voximplant sends again exactly what was not handled:

======  =====================================================================
 200    every genuine callback was handled (published and recorded) or had been
        before; the body says which were accepted, replayed, refused, orphans
 400    the body is not a callback request (not JSON, a wrong shape); it names where
 403    no callback in the request carries this account's signature
 413    the body is larger than ``max_bytes``
 503    callbacks are off on this worker (no salt or API key, no store), or the store
        or the broker failed: nothing was recorded, so a retry is handled in full
======  =====================================================================

The body is read up to ``max_bytes`` whatever ``Content-Length`` says. No answer and no log
line carries the salt, the API key or a callback's hash.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from aio_pika.abc import AbstractRobustConnection
from aiohttp import web
from prometheus_client import CollectorRegistry

from worker.adapters.amqp.commands import CommandPublisher
from worker.adapters.amqp.topology import Names
from worker.callbacks import (
    CallbackIntake,
    CallbackSecrets,
    IntakeUnavailable,
    MalformedCallbacks,
    parse_callbacks,
)
from worker.callbacks.metrics import CallbackMetrics
from worker.settings import Settings
from worker.store import Store

log = logging.getLogger(__name__)

PATH = "/voximplant/callbacks"
MAX_BYTES = 1024 * 1024
_CHUNK = 64 * 1024


class _TooLarge(Exception):
    pass


@dataclass(slots=True)
class VoximplantCallbackRoutes:
    """The route; ``intake`` None means callbacks are off (``off_reason`` says why)."""

    intake: CallbackIntake | None
    metrics: CallbackMetrics
    off_reason: str = ""
    publisher: CommandPublisher | None = None
    max_bytes: int = MAX_BYTES

    def install(self, app: web.Application) -> None:
        app.cleanup_ctx.append(self._lifetime)
        app.router.add_post(PATH, self.receive)

    async def _lifetime(self, app: web.Application) -> AsyncIterator[None]:
        yield
        if self.publisher is not None:
            await self.publisher.close()

    async def receive(self, request: web.Request) -> web.Response:
        if self.intake is None:
            self.metrics.refused("disabled")
            return _error(503, f"voximplant callbacks are off on this worker: {self.off_reason}")
        try:
            body = await self._body(request)
        except _TooLarge:
            self.metrics.refused("too_large")
            return _error(413, f"the body is larger than {self.max_bytes} bytes")
        try:
            callbacks = parse_callbacks(body)
        except MalformedCallbacks as exc:
            self.metrics.refused("malformed")
            log.warning("voximplant callback request refused: malformed (%s)", exc)
            return _error(400, f"not a callback request: {exc}")
        try:
            result = await self.intake.take(callbacks)
        except IntakeUnavailable as exc:
            self.metrics.refused("unavailable")
            log.warning("voximplant callbacks not handled, answered 503: %s", exc)
            return _error(503, f"cannot handle callbacks now: {exc}")
        if not result.verified:
            return web.json_response(
                {"error": "no callback carries this account's signature", **result.as_json()},
                status=403,
            )
        return web.json_response(result.as_json())

    async def _body(self, request: web.Request) -> bytes:
        if request.content_length is not None and request.content_length > self.max_bytes:
            raise _TooLarge
        chunks: list[bytes] = []
        size = 0
        while chunk := await request.content.read(_CHUNK):
            size += len(chunk)
            if size > self.max_bytes:
                raise _TooLarge
            chunks.append(chunk)
        return b"".join(chunks)


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def voximplant_callback_routes(
    settings: Settings,
    *,
    store: Store | None,
    connection: AbstractRobustConnection,
    registry: CollectorRegistry,
    account_id: int | None,
    served: Callable[[str], bool],
) -> VoximplantCallbackRoutes:
    """The route as the settings make it: on with the salt, the API key and a store."""
    metrics = CallbackMetrics(registry)
    missing = [
        name
        for name, value in (
            ("SIPLINE_VOXIMPLANT_CALLBACK_SALT", settings.voximplant_callback_salt),
            ("SIPLINE_VOXIMPLANT_API_KEY", settings.voximplant_api_key),
        )
        if value is None or not value.get_secret_value()
    ]
    reason = ""
    if settings.metrics_port is None:
        reason = "no HTTP port: SIPLINE_METRICS_PORT is off"
    elif missing:
        reason = f"{' and '.join(missing)} not set"
    elif store is None:
        reason = "no store"
    if reason or store is None:
        log.info("voximplant callbacks are off (%s): POST %s answers 503", reason, PATH)
        return VoximplantCallbackRoutes(intake=None, metrics=metrics, off_reason=reason)
    assert settings.voximplant_callback_salt is not None
    assert settings.voximplant_api_key is not None
    publisher = CommandPublisher(
        connection=connection, exchange=Names(settings.topology_prefix).commands_exchange
    )
    intake = CallbackIntake(
        store=store,
        commands=publisher,
        secrets=CallbackSecrets(
            salt=settings.voximplant_callback_salt,
            api_key=settings.voximplant_api_key,
            account_id=account_id,
        ),
        observer=metrics,
        served=served,
    )
    log.info("voximplant callbacks are on: POST %s", PATH)
    return VoximplantCallbackRoutes(intake=intake, metrics=metrics, publisher=publisher)
