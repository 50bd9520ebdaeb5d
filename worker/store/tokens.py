"""Refreshing an OAuth pair exactly once per expiry, across every process.

Bitrix24 refresh tokens are single-use: two processes refreshing the same pair means the
second gets ``invalid_grant`` and, worse, may overwrite the good pair. So the refresh runs
inside one unit of work that holds the pair's lock (``SELECT … FOR UPDATE`` on PostgreSQL,
the write lock on SQLite):

1. lock the row and read the stored pair;
2. if its access token is no longer the one the caller found stale, someone else refreshed
   while we waited: return the stored pair, no request made, unless that pair has expired
   meanwhile too (within :data:`EXPIRY_MARGIN` of its ``expires_at``; a long wait for the
   lock, an idle portal): it is then the one to refresh, and this caller does so;
3. otherwise call the OAuth server (this spends the refresh token), store the new pair in
   the same transaction and commit.

If the OAuth request fails, nothing is stored and the old refresh token is (as far as the
server is concerned) unspent. If the request succeeded but the commit fails, the new pair
exists only in this process: it is written again in fresh transactions (compare-and-set on
the generation that was locked) a few times; when that also fails, ``TokenPersistError``
carries the issued pair so the caller can keep using it and try
:func:`store_issued` later. Other processes meanwhile still hold the spent token and will
get ``invalid_grant``; they should re-read the store before giving up.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from worker.store.errors import StoreError, StoreUnavailable
from worker.store.ports import Store, UnitOfWork
from worker.store.records import IssuedTokens, TokenRecord

logger = logging.getLogger(__name__)

PERSIST_ATTEMPTS = 3
PERSIST_BACKOFF = 0.2
EXPIRY_MARGIN = timedelta(seconds=1)
"""A stored pair this close to its expiry is refreshed rather than handed to a waiter, who
would otherwise retry with a token that expires in flight."""


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


async def refresh_under_lock(
    store: Store, portal: str, *, stale_access: str, refresh: TokenRefresher
) -> TokenRecord:
    """The portal's fresh pair: refreshed here only if still ``stale_access``, else read."""
    async with store.unit_of_work() as uow:
        current = await uow.tokens.lock(portal)
        if current is None:
            raise NoTokens(f"no OAuth tokens are stored for portal {portal}")
        if current.access_token.get_secret_value() != stale_access and _usable(current):
            return current  # another caller or process refreshed while this one waited
        issued = await refresh(current)
        try:
            stored = await _put(uow, portal, issued)
            await uow.commit()
        except StoreUnavailable as exc:
            logger.error(
                "portal %s: refreshed OAuth pair not committed (%s); writing it again",
                portal,
                exc.code,
            )
        else:
            return stored
    return await store_issued(store, portal, locked=current, issued=issued)


def _usable(record: TokenRecord) -> bool:
    return record.expires_at is None or record.expires_at > datetime.now(UTC) + EXPIRY_MARGIN


async def _put(uow: UnitOfWork, portal: str, issued: IssuedTokens) -> TokenRecord:
    return await uow.tokens.put(
        portal,
        access_token=issued.access_token,
        refresh_token=issued.refresh_token,
        expires_at=issued.expires_at,
    )


async def store_issued(
    store: Store, portal: str, *, locked: TokenRecord, issued: IssuedTokens
) -> TokenRecord:
    """Write a pair issued after ``locked`` was read, unless a later one is already stored."""
    for attempt in range(PERSIST_ATTEMPTS):
        try:
            async with store.unit_of_work() as uow:
                current = await uow.tokens.lock(portal)
                if current is not None and current.generation != locked.generation:
                    return current  # our commit did land after all, or a newer pair did
                stored = await _put(uow, portal, issued)
                await uow.commit()
                return stored
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
