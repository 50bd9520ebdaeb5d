"""How a request proves itself: an inbound webhook, or an OAuth app with token refresh.

OAuth follows the Bitrix24 docs: refresh only after ``401 expired_token``, then retry.
Refresh tokens are single-use, so at most one refresh runs per portal: callers that saw the
same stale token wait on one lock, and whoever gets it second finds the token already
replaced and simply retries (the stampede fixed in b24phpsdk #102, b24jssdk #147/#182).
A pair past the expiry the OAuth server gave it is compared with the store's before it is
used: another process may have refreshed it meanwhile (in a fleet a portal's owner changes
and the portal may come back), and presenting the old one would cost a ``401`` and a retry.

A refresh token is spent only if the new pair can be kept. Before asking the OAuth server,
the token store must accept a write; if it does not, the refresh is refused with
``AuthorizationError`` (``TOKEN_STORE_UNWRITABLE``: an operator must act; the command is
dead-lettered and can be replayed) and the stored refresh token stays valid. If the save
still fails after a refresh (the disk filled in between), the new pair is kept in memory,
the failure is logged at CRITICAL, the portal is *degraded* (:attr:`OAuthAuth.degraded`)
and the save is retried at most every :data:`RESAVE_INTERVAL` seconds while the portal is
used. A degraded portal keeps refreshing (the stored token is spent already, so nothing
more can be lost), and the process must not be restarted until the save succeeds: the
pair would be lost and the application would need authorising again.

A pair can still be lost: the OAuth server rotates it when it answers, and a process killed
(or cut off) before the new pair is stored loses it. The store records every refresh in
flight, so the next refresher's ``invalid_grant`` says whether the pair was lost in flight
or revoked (:mod:`worker.store.tokens`); either way the portal is marked as needing
authorising again and :class:`~worker.errors.ReauthorizationRequired` is raised. This
adapter then fails the portal's calls at once, with no request (no refresh per command),
and looks at the store every :data:`REAUTH_RECHECK` seconds for the pair a new install
stores.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol

import aiohttp
from pydantic import SecretStr

from worker.adapters.bitrix24.errors import upstream_error
from worker.adapters.bitrix24.redact import Redactor, mask_url
from worker.adapters.bitrix24.tokens import TokenKeeper, TokenPair
from worker.adapters.upstream import RequestObserver
from worker.errors import AuthorizationError, ReauthorizationRequired, UpstreamUnavailable
from worker.settings import OAuthApp

logger = logging.getLogger(__name__)

RESAVE_INTERVAL = 30.0  # seconds between attempts to save a pair that lives only in memory
REAUTH_RECHECK = 2.0
"""Seconds between looks at the store while a portal needs authorising again: its commands
fail at once, without a request, until a new pair (an install) is found there."""
TOKEN_REQUEST_TIMEOUT = 10.0
"""The OAuth request's own bound (seconds), under the store's refresh lease
(:data:`worker.store.REFRESH_LEASE`), so that a live refresher is never overtaken."""


class Auth(Protocol):
    """Where a method is posted and what credential goes with it."""

    can_refresh: bool

    def url(self, method: str) -> str: ...

    def masked_url(self, method: str) -> str: ...

    async def token(self) -> str | None:
        """The value of the ``auth`` parameter, or None when the URL carries the secret."""

    async def refresh(self, stale: str | None) -> None:
        """Replace ``stale`` with a fresh token, unless another caller already did."""


class WebhookAuth:
    """``https://PORTAL/rest/USER_ID/CODE/METHOD.json``: the secret is in the URL."""

    can_refresh = False

    def __init__(self, webhook_url: SecretStr, redactor: Redactor) -> None:
        base = webhook_url.get_secret_value().rstrip("/") + "/"
        self._base = base
        self._masked = mask_url(base)
        redactor.add(*[part for part in base.split("/") if part][-1:])

    def url(self, method: str) -> str:
        return f"{self._base}{method}.json"

    def masked_url(self, method: str) -> str:
        return f"{self._masked}{method}.json"

    async def token(self) -> str | None:
        return None

    async def refresh(self, stale: str | None) -> None:
        return None


class OAuthAuth:
    """``https://PORTAL/rest/METHOD`` with ``auth=ACCESS_TOKEN``; refreshes on expiry."""

    can_refresh = True

    def __init__(
        self,
        *,
        portal: str,
        app: OAuthApp,
        session: aiohttp.ClientSession,
        store: TokenKeeper,
        timeout: aiohttp.ClientTimeout,
        redactor: Redactor,
        observer: RequestObserver,
    ) -> None:
        self._portal, self._app, self._session = portal, app, session
        self._store, self._timeout, self._observer = store, timeout, observer
        self._redactor = redactor
        self._base = str(app.rest_url).rstrip("/") + "/"
        self._pair = TokenPair(app.access_token, app.refresh_token)
        self._loaded = False
        self._checked: TokenPair | None = None  # the pair last compared with the store
        self._lock = asyncio.Lock()
        self.refreshes = 0
        self._unsaved = False  # the live pair is not in the store
        self._last_save = 0.0
        self._reauth: ReauthorizationRequired | None = None  # the pair is gone: install again
        self._reauth_checked = 0.0
        total = min(timeout.total or TOKEN_REQUEST_TIMEOUT, TOKEN_REQUEST_TIMEOUT)
        self._token_timeout = aiohttp.ClientTimeout(total=total, connect=timeout.connect)
        self._remember(self._pair)
        redactor.add(app.client_secret.get_secret_value())

    def url(self, method: str) -> str:
        return f"{self._base}{method}"

    def masked_url(self, method: str) -> str:
        return mask_url(self.url(method))

    async def token(self) -> str:
        if self._reauth is not None:
            async with self._lock:
                await self._recheck_reauth()
        if not self._loaded or self._outlived():
            async with self._lock:
                if not self._loaded or self._outlived():
                    await self._load()
        if self._unsaved and time.monotonic() - self._last_save >= RESAVE_INTERVAL:
            async with self._lock:
                if self._unsaved:
                    await self._save(self._pair)
        return self._pair.access_token.get_secret_value()

    def _outlived(self) -> bool:
        """The live pair's access token is past the expiry the OAuth server gave it, and
        the store was not asked since: another process (the portal's owner while it was
        away from this one) may have refreshed it, so read the store before spending a
        request on a ``401 expired_token``."""
        expires_at = self._pair.expires_at
        return (
            expires_at is not None
            and not self._unsaved
            and self._checked is not self._pair
            and expires_at <= datetime.now(UTC)
        )

    async def _load(self) -> None:
        stored = await self._store.load(self._portal)
        if stored is not None and (
            stored.access_token.get_secret_value() != self._pair.access_token.get_secret_value()
            or not self._loaded
        ):
            self._pair = stored
            self._remember(stored)
        self._loaded = True
        self._checked = self._pair  # an expired stored pair is used (and refreshed) once

    async def _recheck_reauth(self) -> None:
        """Raise the portal's need to be authorised again, looking at the store at most every
        :data:`REAUTH_RECHECK` seconds for the pair an install (or an operator) stored."""
        if self._reauth is None:
            return
        if time.monotonic() - self._reauth_checked >= REAUTH_RECHECK:
            self._reauth_checked = time.monotonic()
            stored = await self._store.load(self._portal)
            if stored is not None and (
                stored.refresh_token.get_secret_value()
                != self._pair.refresh_token.get_secret_value()
            ):
                self._pair, self._reauth = stored, None
                self._remember(stored)
                self._checked = stored
                logger.warning("bitrix24 %s: new OAuth tokens found; serving again", self._portal)
                return
        raise self._reauth

    @property
    def needs_reauthorization(self) -> bool:
        """True while the portal's pair is gone and it must be installed again."""
        return self._reauth is not None

    @property
    def degraded(self) -> bool:
        """True while the live token pair is only in memory (a restart would lose it)."""
        return self._unsaved

    async def refresh(self, stale: str | None) -> None:
        async with self._lock:
            if stale is None or self._pair.access_token.get_secret_value() != stale:
                return  # another caller refreshed while this one waited
            if self._unsaved:
                # the live pair exists only in this process (its save failed): refresh it
                # directly, then try to save again
                pair = await self._request_refresh(self._pair)
                self._adopt(pair, requested=True)
                await self._save(pair)
                return
            await self._check_store()  # never spend a refresh token that cannot be kept
            issued: TokenPair | None = None

            async def request(current: TokenPair) -> TokenPair:
                nonlocal issued
                issued = await self._request_refresh(current)
                return issued

            try:
                pair = await self._store.refreshed(
                    self._portal, stale_access=stale, current=self._pair, request=request
                )
            except ReauthorizationRequired as exc:
                self._reauth, self._reauth_checked = exc, time.monotonic()
                report = getattr(self._observer, "on_reauthorization_required", None)
                if exc.marked_now and report is not None:
                    report(portal=self._portal, reason=exc.reason)
                raise
            except OSError as exc:
                if issued is None:
                    raise
                self._adopt(issued, requested=True)
                self._degrade(exc)
                return
            self._adopt(pair, requested=issued is not None)

    def _adopt(self, pair: TokenPair, *, requested: bool) -> None:
        self._pair = pair
        self._remember(pair)
        if requested:
            self.refreshes += 1
            logger.info("bitrix24 %s: OAuth token refreshed", self._portal)

    async def _check_store(self) -> None:
        try:
            await self._store.check_writable()
        except OSError as exc:
            logger.error(
                "bitrix24 %s: the OAuth token store cannot be written (%s); "
                "not refreshing, the stored refresh token stays valid",
                self._portal,
                exc.strerror or type(exc).__name__,
            )
            raise AuthorizationError(
                f"bitrix24 {self._portal}: the OAuth token store cannot be written "
                f"({exc.strerror or type(exc).__name__}); the refresh token was not spent: "
                f"fix {self._store.where}, then replay",
                code="TOKEN_STORE_UNWRITABLE",
            ) from None

    def _degrade(self, exc: OSError) -> None:
        self._last_save = time.monotonic()
        self._unsaved = True
        logger.critical(
            "bitrix24 %s: refreshed OAuth tokens could not be saved (%s); portal degraded: "
            "the live tokens exist only in this process, so do not restart it until "
            "%s is writable again (saving is retried every %.0f s)",
            self._portal,
            exc.strerror or type(exc).__name__,
            self._store.where,
            RESAVE_INTERVAL,
        )

    async def _save(self, pair: TokenPair) -> None:
        self._last_save = time.monotonic()
        try:
            await self._store.save(self._portal, pair)
        except OSError as exc:
            self._degrade(exc)
            return
        if self._unsaved:
            logger.warning(
                "bitrix24 %s: OAuth tokens saved at last; no longer degraded", self._portal
            )
        self._unsaved = False

    def _remember(self, pair: TokenPair) -> None:
        self._redactor.add(
            pair.access_token.get_secret_value(), pair.refresh_token.get_secret_value()
        )

    async def _request_refresh(self, current: TokenPair) -> TokenPair:
        params = {
            "grant_type": "refresh_token",
            "client_id": self._app.client_id,
            "client_secret": self._app.client_secret.get_secret_value(),
            "refresh_token": current.refresh_token.get_secret_value(),
        }
        server = str(self._app.server_url)
        started = time.monotonic()
        status: int | None = None
        code = "OK"
        try:
            async with self._session.get(
                server, params=params, timeout=self._token_timeout
            ) as resp:
                status = resp.status
                raw = await resp.read()
            body = _json_object(raw)
            if body is None:
                code = "NON_JSON_BODY"
                raise UpstreamUnavailable(
                    f"OAuth server {mask_url(server)} answered HTTP {status} without JSON",
                    code=code,
                )
            if "error" in body or "access_token" not in body:
                code = str(body.get("error") or "ERROR_UNEXPECTED_ANSWER")
                raise upstream_error(
                    portal=self._portal,
                    method="oauth/token",
                    code=code,
                    description=self._redactor(str(body.get("error_description") or "")),
                    status=status,
                )
            return TokenPair(
                SecretStr(str(body["access_token"])),
                SecretStr(str(body["refresh_token"])),
                _expires_at(body.get("expires_in")),
            )
        except (aiohttp.ClientError, TimeoutError) as exc:
            code = "CONNECTION_ERROR"
            # ``from None``: aiohttp's message may quote the URL, and this one has secrets
            raise UpstreamUnavailable(
                f"OAuth server {mask_url(server)} unreachable ({type(exc).__name__})", code=code
            ) from None
        finally:
            self._observer.on_request(
                upstream="bitrix24",
                portal=self._portal,
                method="oauth/token",
                status=status,
                code=code,
                duration=time.monotonic() - started,
            )


def _expires_at(expires_in: object) -> datetime | None:
    """When a pair issued now with ``expires_in`` (seconds) expires; None if not said."""
    if isinstance(expires_in, bool) or not isinstance(expires_in, (int, float, str)):
        return None
    try:
        seconds = float(expires_in)
    except ValueError:
        return None
    if not 0 < seconds <= 10 * 86400:
        return None
    return datetime.now(UTC) + timedelta(seconds=seconds)


def _json_object(raw: bytes) -> dict[str, object] | None:
    try:
        body = json.loads(raw)
    except ValueError:
        return None
    return body if isinstance(body, dict) else None
