"""Calling one Bitrix24 portal: limits, token refresh, error mapping and ``batch``.

Every request passes the portal's leaky bucket first; ``401 expired_token`` refreshes the
OAuth token once and retries; ``503 QUERY_LIMIT_EXCEEDED`` backs the whole portal off and
retries a few times; ``429 OPERATION_TIME_LIMIT`` pauses that method.  Everything else is
raised as mapped by :mod:`worker.adapters.bitrix24.errors`.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
from pydantic import SecretStr

from worker.adapters.bitrix24.auth import Auth, OAuthAuth, WebhookAuth
from worker.adapters.bitrix24.batch import (
    BatchCall,
    CallOutcome,
    chunked,
    commands,
    outcomes,
)
from worker.adapters.bitrix24.errors import (
    OPERATION_TIME_LIMIT,
    QUERY_LIMIT_EXCEEDED,
    TokenExpired,
)
from worker.adapters.bitrix24.limiter import PortalLimiter
from worker.adapters.bitrix24.observer import Bitrix24Observer, NullObserver
from worker.adapters.bitrix24.redact import Redactor
from worker.adapters.bitrix24.tokens import TokenStore
from worker.adapters.bitrix24.transport import Body, Transport, reset_in
from worker.errors import BadInput, RateLimited
from worker.settings import PortalSettings, Settings


@dataclass(frozen=True, slots=True)
class ClientTuning:
    """Knobs the settings do not carry; the defaults suit a real portal."""

    bucket_headroom: int = 2
    query_limit_retries: int = 3
    query_limit_backoff: float = 1.0
    batch_size: int = 50


def portal_settings(settings: Settings, portal: str) -> PortalSettings:
    """The configured portal, or ``BadInput`` (the command named a portal we do not serve)."""
    found = settings.portals.get(portal.lower())
    if found is None:
        raise BadInput(f"unknown portal {portal!r}", reason="unknown_portal")
    return found


class PortalCaller:
    """Calls one portal's REST API.  The session is the caller's (one per process)."""

    def __init__(
        self,
        *,
        session: aiohttp.ClientSession,
        settings: Settings,
        portal: str,
        token_store: TokenStore | None = None,
        limiter: PortalLimiter | None = None,
        observer: Bitrix24Observer | None = None,
        tuning: ClientTuning | None = None,
    ) -> None:
        self.portal = portal.lower()
        config = portal_settings(settings, self.portal)
        self._tuning = tuning or ClientTuning()
        self._observer: Bitrix24Observer = observer or NullObserver()
        self._redactor = Redactor()
        timeout = aiohttp.ClientTimeout(
            total=settings.bitrix24_total_timeout, connect=settings.bitrix24_connect_timeout
        )
        self._auth = self._make_auth(config, session, settings, token_store, timeout)
        capacity, drain = config.bucket()
        self.limiter = limiter or PortalLimiter(
            portal=self.portal,
            capacity=capacity,
            drain_per_second=drain,
            headroom=self._tuning.bucket_headroom,
        )
        self._transport = Transport(
            portal=self.portal,
            session=session,
            auth=self._auth,
            timeout=timeout,
            redactor=self._redactor,
            observer=self._observer,
        )

    def _make_auth(
        self,
        config: PortalSettings,
        session: aiohttp.ClientSession,
        settings: Settings,
        token_store: TokenStore | None,
        timeout: aiohttp.ClientTimeout,
    ) -> Auth:
        if config.webhook_url is not None:
            return WebhookAuth(config.webhook_url, self._redactor)
        assert config.oauth is not None  # PortalSettings guarantees exactly one
        return OAuthAuth(
            portal=self.portal,
            app=config.oauth,
            session=session,
            store=token_store or TokenStore(settings.bitrix24_token_store),
            timeout=timeout,
            redactor=self._redactor,
            observer=self._observer,
        )

    @property
    def requests_made(self) -> int:
        """HTTP requests sent to the portal's REST API (token refreshes not included)."""
        return self._transport.requests_made

    @property
    def refreshes(self) -> int:
        """OAuth token refreshes this client performed."""
        return self._auth.refreshes if isinstance(self._auth, OAuthAuth) else 0

    # --- the generic call ---------------------------------------------------------
    async def call(
        self, method: str, params: Mapping[str, Any] | None = None, *, secrets: Iterable[str] = ()
    ) -> Body:
        """Call a method; return the whole success body (``result``, ``total``, ``next``)."""
        params = params or {}
        secrets = tuple(secrets)
        refreshed = False
        backoffs = 0
        while True:
            waited = await self.limiter.acquire(method)
            if waited > 0:
                self._observer.on_limiter_wait(portal=self.portal, method=method, seconds=waited)
            token = await self._auth.token()
            try:
                return await self._transport.post(method, params, token=token, secrets=secrets)
            except TokenExpired:
                if refreshed or not self._auth.can_refresh:
                    raise
                await self._auth.refresh(token)
                refreshed = True
            except RateLimited as exc:
                self._slow_down(method, exc)
                if exc.code != QUERY_LIMIT_EXCEEDED or backoffs >= self._tuning.query_limit_retries:
                    raise
                backoffs += 1

    def _slow_down(self, method: str, exc: RateLimited) -> None:
        if exc.code == OPERATION_TIME_LIMIT:
            self.limiter.pause(method, _now_plus(exc.retry_after or 0.0))
        elif exc.code == QUERY_LIMIT_EXCEEDED:
            delay = max(self._tuning.query_limit_backoff, 1.0 / self.limiter.drain_per_second)
            exc.retry_after = delay
            self.limiter.back_off(delay)

    # --- batch ----------------------------------------------------------------------
    async def batch(self, calls: Sequence[BatchCall], *, halt: bool = False) -> list[CallOutcome]:
        """Run any number of calls, 50 to a request; one outcome per call, in order.

        A failure of a whole request (transport, auth, limits) is raised: none of the
        outcomes of that request are known.
        """
        results: list[CallOutcome] = []
        for chunk in chunked(calls, self._tuning.batch_size):
            results.extend(await self._batch_chunk(chunk, halt=halt))
        return results

    async def _batch_chunk(self, chunk: Sequence[BatchCall], *, halt: bool) -> list[CallOutcome]:
        ready: list[BatchCall] = []
        local: dict[int, CallOutcome] = {}
        for index, call in enumerate(chunk):
            try:
                self.limiter.check(call.method)
                ready.append(call)
            except RateLimited as exc:
                local[index] = CallOutcome(error=exc)
        sent: list[CallOutcome] = []
        if ready:
            secrets = [s for call in ready for s in _secrets(call.params)]
            body = await self.call(
                "batch", {"halt": int(halt), "cmd": commands(ready)}, secrets=secrets
            )
            sent = outcomes(
                portal=self.portal,
                chunk=ready,
                result=body.get("result"),
                redact=lambda text: self._redactor(text, secrets),
            )
            self._pause_limited(ready, sent, body)
        pending = iter(sent)
        return [local[i] if i in local else next(pending) for i in range(len(chunk))]

    def _pause_limited(
        self, calls: Sequence[BatchCall], results: Sequence[CallOutcome], body: Body
    ) -> None:
        for call, outcome in zip(calls, results, strict=True):
            error = outcome.error
            if isinstance(error, RateLimited) and error.code == OPERATION_TIME_LIMIT:
                error.retry_after = reset_in(body.get("time"))
                self.limiter.pause(call.method, _now_plus(error.retry_after))


def _secrets(params: Mapping[str, Any]) -> list[str]:
    return [
        v.get_secret_value() if isinstance(v, SecretStr) else str(v)
        for k, v in params.items()
        if "PASSWORD" in str(k).upper() and v
    ]


def _now_plus(seconds: float) -> float:
    return time.time() + seconds
