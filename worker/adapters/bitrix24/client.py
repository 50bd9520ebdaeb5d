"""The Bitrix24 REST client of one portal: limits, token refresh, ``batch`` and the typed
``voximplant.sip.*`` methods.

Every request passes the portal's leaky bucket first; ``401 expired_token`` refreshes the
OAuth token and retries (once per token: a pair another process refreshed can expire in
turn before it is used, so a new expired token is refreshed again, at most
:data:`MAX_REFRESHES` times a call); ``503 QUERY_LIMIT_EXCEEDED`` backs the whole portal off and
retries a few times; ``429 OPERATION_TIME_LIMIT`` pauses that method. Everything else is
raised as mapped by :mod:`worker.adapters.bitrix24.errors`. Results are parsed into the
models of :mod:`worker.adapters.bitrix24.models`.

Every method takes an optional :class:`~worker.adapters.upstream.Tally` that counts the
HTTP requests that one call sent (retries included), for callers that report their cost.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

import aiohttp
from pydantic import SecretStr

from worker.adapters.bitrix24.auth import Auth, OAuthAuth, WebhookAuth
from worker.adapters.bitrix24.batch import BatchCall, CallOutcome, chunked, commands, outcomes
from worker.adapters.bitrix24.errors import OPERATION_TIME_LIMIT, QUERY_LIMIT_EXCEEDED, TokenExpired
from worker.adapters.bitrix24.limiter import PortalLimiter
from worker.adapters.bitrix24.models import (
    ConnectorStatus,
    SipLine,
    SipStatus,
    parse,
    parse_lines,
    status_of,
)
from worker.adapters.bitrix24.redact import Redactor
from worker.adapters.bitrix24.settings import Bitrix24Settings
from worker.adapters.bitrix24.tokens import TokenKeeper
from worker.adapters.bitrix24.transport import Body, Transport, reset_in
from worker.adapters.upstream import NullObserver, RequestObserver, Tally
from worker.errors import BadInput, RateLimited, SiplineError
from worker.settings import PortalSettings

MAX_REFRESHES = 3
"""Refreshes one call may ask for, each for a different expired token."""

SORT_PARAMS = {"SORT": "CONFIG_ID", "ORDER": "ASC"}
"""A stable order for paging ``voximplant.sip.get``: new lines come last."""


class Bitrix24Client:
    """Calls one portal's REST API.  The session is the caller's (one per process)."""

    def __init__(
        self,
        *,
        session: aiohttp.ClientSession,
        portal: str,
        config: PortalSettings,
        settings: Bitrix24Settings | None = None,
        token_store: TokenKeeper,
        limiter: PortalLimiter | None = None,
        observer: RequestObserver | None = None,
    ) -> None:
        self.portal = portal.lower()
        self.config = config
        self._settings = settings or Bitrix24Settings()
        self._observer: RequestObserver = observer or NullObserver()
        self._redactor = Redactor()
        timeout = aiohttp.ClientTimeout(
            total=self._settings.total_timeout, connect=self._settings.connect_timeout
        )
        self._auth = self._make_auth(session, token_store, timeout)
        capacity, drain = config.bucket()
        self.limiter = limiter or PortalLimiter(
            portal=self.portal,
            capacity=capacity,
            drain_per_second=drain,
            headroom=self._settings.bucket_headroom,
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
        self, session: aiohttp.ClientSession, store: TokenKeeper, timeout: aiohttp.ClientTimeout
    ) -> Auth:
        if self.config.webhook_url is not None:
            return WebhookAuth(self.config.webhook_url, self._redactor)
        assert self.config.oauth is not None  # PortalSettings guarantees exactly one
        return OAuthAuth(
            portal=self.portal,
            app=self.config.oauth,
            session=session,
            store=store,
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
        self,
        method: str,
        params: Mapping[str, Any] | None = None,
        *,
        secrets: Iterable[str] = (),
        tally: Tally | None = None,
    ) -> Body:
        """Call a method; return the whole success body (``result``, ``total``, ``next``)."""
        params = params or {}
        secrets = tuple(secrets)
        refreshed: set[str | None] = set()  # the expired tokens this call refreshed
        backoffs = 0
        while True:
            waited = await self.limiter.acquire(method)
            if waited > 0:
                self._observer.on_limiter_wait(
                    upstream="bitrix24", portal=self.portal, method=method, seconds=waited
                )
            token = await self._auth.token()
            try:
                return await self._transport.post(
                    method, params, token=token, secrets=secrets, tally=tally
                )
            except TokenExpired:
                if (
                    not self._auth.can_refresh
                    or token in refreshed
                    or len(refreshed) >= MAX_REFRESHES
                ):
                    raise
                refreshed.add(token)
                await self._auth.refresh(token)
            except RateLimited as exc:
                self._slow_down(method, exc)
                if (
                    exc.code != QUERY_LIMIT_EXCEEDED
                    or backoffs >= self._settings.query_limit_retries
                ):
                    raise
                backoffs += 1

    def _slow_down(self, method: str, exc: RateLimited) -> None:
        if exc.code == OPERATION_TIME_LIMIT:
            self.limiter.pause(method, time.time() + (exc.retry_after or 0.0))
        elif exc.code == QUERY_LIMIT_EXCEEDED:
            delay = max(self._settings.query_limit_backoff, 1.0 / self.limiter.drain_per_second)
            exc.retry_after = delay
            self.limiter.back_off(delay)

    # --- batch ----------------------------------------------------------------------
    @property
    def batch_size(self) -> int:
        """Commands one ``batch`` request carries."""
        return max(1, min(self._settings.batch_size, 50))

    async def batch(
        self, calls: Sequence[BatchCall], *, halt: bool = False, tally: Tally | None = None
    ) -> list[CallOutcome]:
        """Run any number of calls, ``batch_size`` to a request; one outcome per call, in order.

        A failure of a whole request (transport, auth, limits) is raised: none of the
        outcomes of that request are known.
        """
        results: list[CallOutcome] = []
        for chunk in chunked(calls, self.batch_size):
            results.extend(await self.batch_request(chunk, halt=halt, tally=tally))
        return results

    async def batch_request(
        self, chunk: Sequence[BatchCall], *, halt: bool = False, tally: Tally | None = None
    ) -> list[CallOutcome]:
        """One ``batch`` request of at most ``batch_size`` calls (none if every call's method
        is paused: those fail fast with ``RateLimited``)."""
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
                "batch", {"halt": int(halt), "cmd": commands(ready)}, secrets=secrets, tally=tally
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
                self.limiter.pause(call.method, time.time() + error.retry_after)

    # --- voximplant.sip.* -------------------------------------------------------------
    async def connector_status(self, *, tally: Tally | None = None) -> ConnectorStatus:
        """The SIP connector's licence: without it cloud lines do not register."""
        body = await self.call("voximplant.sip.connector.status", tally=tally)
        return parse(ConnectorStatus, body.get("result"), self.portal)

    async def sip_add(
        self,
        *,
        title: str,
        server: str,
        login: str,
        password: SecretStr | str,
        line_type: Literal["cloud", "office"] = "cloud",
    ) -> SipLine:
        """Create a line; a cloud line comes back with the ``REG_ID`` of its registration."""
        secret = _reveal(password)
        params = {
            "TYPE": line_type,
            "TITLE": title,
            "SERVER": server,
            "LOGIN": login,
            "PASSWORD": secret,
        }
        body = await self.call("voximplant.sip.add", params, secrets=[secret])
        return parse(SipLine, body.get("result"), self.portal)

    async def sip_update(
        self,
        config_id: int,
        *,
        title: str | None = None,
        server: str | None = None,
        login: str | None = None,
        password: SecretStr | str | None = None,
    ) -> None:
        """Change a line; a new server, login or password makes the line re-register."""
        changes: dict[str, Any] = {"TITLE": title, "SERVER": server, "LOGIN": login}
        if password is not None:
            changes["PASSWORD"] = _reveal(password)
        changes = {k: v for k, v in changes.items() if v is not None}
        if not changes:
            raise BadInput("sip_update needs at least one change", reason="nothing_to_update")
        secrets = [changes["PASSWORD"]] if "PASSWORD" in changes else []
        await self.call(
            "voximplant.sip.update", {"CONFIG_ID": config_id, **changes}, secrets=secrets
        )

    async def sip_delete(self, config_id: int) -> None:
        """Delete a line and its registration."""
        await self.call("voximplant.sip.delete", {"CONFIG_ID": config_id})

    async def sip_get(
        self,
        filter: Mapping[str, Any] | None = None,
        *,
        start: int = 0,
        tally: Tally | None = None,
    ) -> list[SipLine]:
        """Every line the caller may see from ``start`` on, page after page, in a stable
        order (``CONFIG_ID`` ascending)."""
        lines: list[SipLine] = []
        at: int | None = start
        while at is not None:
            body = await self.call("voximplant.sip.get", sip_get_params(filter, at), tally=tally)
            page = parse_lines(body.get("result"), self.portal)
            lines.extend(page)
            nxt = body.get("next")
            at = int(nxt) if nxt not in (None, "") and page else None
        return lines

    async def sip_status(self, reg_id: int) -> SipStatus:
        """A cloud line's registration state as Bitrix24 reports it."""
        body = await self.call("voximplant.sip.status", {"REG_ID": reg_id})
        return parse(SipStatus, body.get("result"), self.portal)

    async def sip_status_many(
        self, reg_ids: Sequence[int], *, tally: Tally | None = None
    ) -> dict[int, SipStatus | SiplineError]:
        """Many registrations' states through ``batch``: a status or an error per id."""
        answers = await self.batch([status_call(r) for r in reg_ids], tally=tally)
        return {
            reg_id: status_of(outcome, self.portal)
            for reg_id, outcome in zip(reg_ids, answers, strict=True)
        }


def sip_get_params(filter: Mapping[str, Any] | None, start: int) -> dict[str, Any]:
    """One ``voximplant.sip.get`` page's parameters, in the stable order."""
    params: dict[str, Any] = {"start": start, **SORT_PARAMS}
    if filter:
        params["FILTER"] = dict(filter)
    return params


def status_call(reg_id: int) -> BatchCall:
    return BatchCall("voximplant.sip.status", {"REG_ID": reg_id})


def _reveal(value: SecretStr | str) -> str:
    return value.get_secret_value() if isinstance(value, SecretStr) else value


def _secrets(params: Mapping[str, Any]) -> list[str]:
    return [
        v.get_secret_value() if isinstance(v, SecretStr) else str(v)
        for k, v in params.items()
        if "PASSWORD" in str(k).upper() and v
    ]
