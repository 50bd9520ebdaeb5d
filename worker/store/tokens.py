"""Refreshing an OAuth pair exactly once per expiry, across every process, and knowing when a
pair was lost.

Bitrix24 refresh tokens are single-use: two processes refreshing the same pair means the
second gets ``invalid_grant`` and, worse, may overwrite the good pair. And the OAuth server
rotates the pair the moment it answers: a process killed (or cut off, or unable to write
the store) between that answer and the stored pair loses it for good. That window cannot be
closed; it is made visible. A refresh therefore runs in three short units of work on the
pair's row (locked: ``SELECT … FOR UPDATE`` on PostgreSQL, the write lock on SQLite):

1. **claim**: lock and read the pair. If its access token is no longer the one the caller
   found stale (and is not about to expire, :data:`EXPIRY_MARGIN`), someone refreshed: return
   it. If another holder's refresh is recorded in flight and its lease
   (:data:`REFRESH_LEASE`) runs, wait (poll) for it. Otherwise record this refresh in flight
   (who, when, until when, the spent token's :func:`fingerprint`, never the token) and
   commit *before* calling the OAuth server;
2. **call** the OAuth server (this spends the refresh token);
3. **store** the new pair (compare-and-set on the generation claimed), which ends the
   record. If that write fails, it is written again a few times; when that also fails,
   ``TokenPersistError`` carries the issued pair so the caller can keep using it and try
   :func:`store_issued` later; the record stays, as evidence.

A refusal the server answered (not ``invalid_grant``) forgets the record: the token is
unspent. A timeout, a lost connection or a body that is not the server's JSON leaves it
unknown whether the pair was rotated: the record is kept but its lease ended. A process
killed mid-call leaves the record as it was; the lease ends by itself.

``invalid_grant`` then tells the two cases apart. If a refresh of the very token was
recorded and never completed, the pair was lost in flight (``refresh_lost``); otherwise it
was revoked or the application uninstalled (``refresh_refused``). Either way the portal is
marked as needing authorising again, one error line says what to do, and every later
refresh raises :class:`~worker.errors.ReauthorizationRequired` without calling the OAuth
server, until a new pair is stored (the install callback, or new tokens), which clears the
mark.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import secrets
import socket
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from pydantic import SecretStr

from worker.errors import ReauthorizationRequired, SiplineError
from worker.store.errors import StoreError, StoreUnavailable
from worker.store.ports import Store, UnitOfWork
from worker.store.records import (
    IssuedTokens,
    Reauthorization,
    ReauthReason,
    RefreshIntent,
    TokenRecord,
)

logger = logging.getLogger(__name__)

PERSIST_ATTEMPTS = 3
PERSIST_BACKOFF = 0.2
EXPIRY_MARGIN = timedelta(seconds=1)
"""A stored pair this close to its expiry is refreshed rather than handed to a waiter, who
would otherwise retry with a token that expires in flight."""
REFRESH_LEASE = timedelta(seconds=15)
"""How long the others wait for a refresh recorded in flight before they try themselves
(longer than the OAuth request's own timeout, so a live holder is never overtaken)."""
WAIT_POLL = 0.1
REFUSED = "invalid_grant"
UNANSWERED = frozenset({"CONNECTION_ERROR", "NON_JSON_BODY"})


TokenRefresher = Callable[[TokenRecord], Awaitable[IssuedTokens]]
"""Calls the OAuth server with the current refresh token; returns the new pair."""


class NoTokens(StoreError):
    """No OAuth pair is stored for the portal (it was never installed or was removed)."""

    code = "NO_TOKENS"


class TokenPersistError(StoreUnavailable):
    """A new pair was issued but could not be stored; ``issued`` holds it (in memory only)."""

    def __init__(self, message: str, *, issued: TokenRecord) -> None:
        super().__init__(message)
        self.issued = issued


def fingerprint(refresh_token: SecretStr) -> str:
    """What names a refresh token in the store and in messages: a hash, never the token."""
    digest = hashlib.sha256(b"sipline:refresh-token:" + refresh_token.get_secret_value().encode())
    return digest.hexdigest()[:16]


def default_owner() -> str:
    """Who this process is, in a recorded refresh: host and process id."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _answered(exc: BaseException) -> bool:
    """The OAuth server answered the refresh with a refusal: the token was not spent.

    A lost connection, a timeout, a body that is not the server's JSON or a cancellation
    leave it unknown whether the server rotated the pair."""
    return isinstance(exc, SiplineError) and exc.code not in UNANSWERED


def _refused(exc: BaseException) -> bool:
    return isinstance(exc, SiplineError) and exc.code == REFUSED


async def refresh_under_lock(
    store: Store,
    portal: str,
    *,
    stale_access: str,
    refresh: TokenRefresher,
    owner: str | None = None,
    lease: timedelta = REFRESH_LEASE,
) -> TokenRecord:
    """The portal's fresh pair: refreshed here only if still ``stale_access``, else read.

    Raises :class:`~worker.errors.ReauthorizationRequired` when the portal is marked as
    needing authorising again (no request made), and marks it so when the OAuth server
    refuses its refresh token."""
    owner = f"{owner or default_owner()}/{secrets.token_hex(3)}"  # this refresh, precisely
    while True:
        claim = await _claim(store, portal, stale_access, owner, lease)
        if claim is None:
            await asyncio.sleep(WAIT_POLL)
            continue
        current, claimed, abandoned = claim
        if not claimed:
            return current  # the fresh pair another caller or process stored
        try:
            issued = await refresh(current)
        except asyncio.CancelledError:
            raise  # as a killed process: the lease runs out by itself
        except BaseException as exc:
            if _refused(exc):
                after = await _refused_refresh(store, portal, current, abandoned, owner)
                if after is None:
                    continue  # someone else is spending the same token: wait for it
                return after
            await _end_refresh(store, portal, current, answered=_answered(exc))
            raise
        try:
            return await _store_once(store, portal, locked=current, issued=issued)
        except StoreUnavailable as exc:
            logger.error(
                "portal %s: refreshed OAuth pair not committed (%s); writing it again",
                portal,
                exc.code,
            )
        return await store_issued(store, portal, locked=current, issued=issued)


async def _claim(
    store: Store, portal: str, stale_access: str, owner: str, lease: timedelta
) -> tuple[TokenRecord, bool, RefreshIntent | None] | None:
    """Under the row lock: the fresh pair (nothing to do), None (another holder's refresh is
    in flight: wait), or the pair this caller now refreshes, recorded as in flight (committed
    before the OAuth server is called), with the abandoned refresh of the same token if any."""
    async with store.unit_of_work() as uow:
        current = await uow.tokens.lock(portal)
        if current is None:
            raise NoTokens(f"no OAuth tokens are stored for portal {portal}")
        if current.reauth is not None:
            raise _reauth_error(portal, current.reauth)
        if current.access_token.get_secret_value() != stale_access and _usable(current):
            return current, False, None
        now = datetime.now(UTC)
        intent = current.in_flight
        if intent is not None and intent.lease_until > now:
            return None
        spent = fingerprint(current.refresh_token)
        abandoned = intent if intent is not None and intent.fingerprint == spent else None
        if abandoned is not None:
            logger.warning(
                "portal %s: the refresh %s started at %s never stored its pair; "
                "refreshing the same token again",
                portal,
                abandoned.owner,
                abandoned.started_at.isoformat(timespec="seconds"),
            )
        await uow.tokens.begin_refresh(
            portal, owner=owner, fingerprint=spent, lease_until=now + lease
        )
        await uow.commit()
    claimed = RefreshIntent(owner=owner, started_at=now, lease_until=now + lease, fingerprint=spent)
    return replace(current, in_flight=claimed), True, abandoned


async def _refused_refresh(
    store: Store,
    portal: str,
    current: TokenRecord,
    abandoned: RefreshIntent | None,
    owner: str,
) -> TokenRecord | None:
    """After ``invalid_grant``: a pair stored meanwhile, None to wait for another holder's
    refresh of the same token, or the portal marked as needing authorising again."""
    async with store.unit_of_work() as uow:
        locked = await uow.tokens.lock(portal)
        if locked is None:
            raise NoTokens(f"no OAuth tokens are stored for portal {portal}")
        if locked.generation != current.generation:
            return locked
        if locked.reauth is not None:
            raise _reauth_error(portal, locked.reauth)
        other = locked.in_flight
        if (
            other is not None
            and not _same(other, current.in_flight)
            and other.fingerprint == fingerprint(current.refresh_token)
            and other.lease_until > datetime.now(UTC)
        ):
            return None
        if abandoned is not None:
            reason: ReauthReason = "refresh_lost"
            detail = (
                f"its refresh token ({abandoned.fingerprint}) was spent by a refresh that "
                f"{abandoned.owner} started at "
                f"{abandoned.started_at.isoformat(timespec='seconds')} and never stored "
                "(the process died, or lost the answer or the store): the pair was lost in flight"
            )
        else:
            reason = "refresh_refused"
            spent = fingerprint(current.refresh_token)
            detail = (
                f"the OAuth server refused its refresh token ({spent}, "
                "invalid_grant) with no refresh of it in flight: the application was "
                "uninstalled or its tokens revoked"
            )
        await uow.tokens.require_reauth(portal, reason=reason, detail=detail)
        await uow.commit()
    mark = Reauthorization(reason=reason, since=datetime.now(UTC), detail=detail)
    logger.error(
        "portal %s needs authorising again: %s. Install the application on the portal again "
        "(or set new tokens), then run: sipline dlq replay --reason %s",
        portal,
        detail,
        ReauthorizationRequired.dead_letter_reason,
    )
    raise _reauth_error(portal, mark, marked_now=True)


async def _end_refresh(store: Store, portal: str, current: TokenRecord, *, answered: bool) -> None:
    """Best effort: a refresh that failed no longer makes the others wait (a cancelled one,
    as a killed one, is left to its lease)."""
    try:
        async with store.unit_of_work() as uow:
            locked = await uow.tokens.lock(portal)
            if (
                locked is not None
                and locked.generation == current.generation
                and _same(locked.in_flight, current.in_flight)
            ):
                await uow.tokens.end_refresh(portal, answered=answered)
                await uow.commit()
    except StoreUnavailable:
        pass  # the lease runs out by itself


def _same(one: RefreshIntent | None, other: RefreshIntent | None) -> bool:
    return (
        one is not None
        and other is not None
        and (one.owner, one.fingerprint) == (other.owner, other.fingerprint)
    )


def _reauth_error(
    portal: str, mark: Reauthorization, *, marked_now: bool = False
) -> ReauthorizationRequired:
    return ReauthorizationRequired(
        f"portal {portal} needs authorising again since "
        f"{mark.since.isoformat(timespec='seconds')} ({mark.reason}): {mark.detail}. "
        "Install the application on the portal again (or set new tokens), then replay "
        f"the dead letters with reason {ReauthorizationRequired.dead_letter_reason}",
        reason=mark.reason,
        marked_now=marked_now,
    )


def _usable(record: TokenRecord) -> bool:
    return record.expires_at is None or record.expires_at > datetime.now(UTC) + EXPIRY_MARGIN


async def _put(uow: UnitOfWork, portal: str, issued: IssuedTokens) -> TokenRecord:
    return await uow.tokens.put(
        portal,
        access_token=issued.access_token,
        refresh_token=issued.refresh_token,
        expires_at=issued.expires_at,
    )


async def _store_once(
    store: Store, portal: str, *, locked: TokenRecord, issued: IssuedTokens
) -> TokenRecord:
    """One transaction: write ``issued`` unless the pair moved on since ``locked`` was read
    (our earlier commit landed after all, or another holder stored a newer pair)."""
    async with store.unit_of_work() as uow:
        current = await uow.tokens.lock(portal)
        if current is not None and current.generation != locked.generation:
            return current
        stored = await _put(uow, portal, issued)
        await uow.commit()
        return stored


async def store_issued(
    store: Store, portal: str, *, locked: TokenRecord, issued: IssuedTokens
) -> TokenRecord:
    """Write a pair issued after ``locked`` was read, unless a later one is already stored."""
    for attempt in range(PERSIST_ATTEMPTS):
        try:
            return await _store_once(store, portal, locked=locked, issued=issued)
        except StoreUnavailable:
            await asyncio.sleep(PERSIST_BACKOFF * (attempt + 1))
    raise TokenPersistError(
        f"portal {portal}: a refreshed OAuth pair could not be stored",
        issued=TokenRecord(
            portal=portal,
            access_token=issued.access_token,
            refresh_token=issued.refresh_token,
            expires_at=issued.expires_at,
            generation=locked.generation + 1,
        ),
    )
