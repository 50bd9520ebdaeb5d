"""Persisted OAuth tokens, so that a restart does not lose a rotated refresh token.

Bitrix24 refresh tokens are effectively single-use: once refreshed, the token in the
settings is stale, and only the store knows the live one. So a refresh token must never be
spent unless the new pair can be kept: :meth:`TokenKeeper.check_writable` runs at start-up
(an unwritable store is a configuration error) and again before every refresh (see
:mod:`worker.adapters.bitrix24.auth` for what happens when a save still fails).

:class:`TokenKeeper` is the port; :class:`TokenStore` keeps the pairs in a JSON file keyed
by portal domain, written atomically (temp file + rename) with owner-only permissions, for
a process without a store. :class:`SharedTokens` keeps them in the store, shared by every
process (``sipline run`` always has one); :func:`migrate_token_file` moves a token file's
pairs into the store once.
"""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import os
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

from pydantic import SecretStr

from worker.errors import SiplineError
from worker.store import (
    REFRESH_LEASE,
    IssuedTokens,
    NoTokens,
    Store,
    TokenPersistError,
    TokenRecord,
    TokenRefresher,
    refresh_under_lock,
)

logger = logging.getLogger(__name__)

PROBE_PORTAL = "write-probe.sipline.invalid"
"""The portal a writability probe writes (and rolls back); ``.invalid`` is never a domain."""


@dataclass(frozen=True, slots=True)
class TokenPair:
    """An access token and the refresh token issued with it (and, when the OAuth server
    said, when the access token expires)."""

    access_token: SecretStr
    refresh_token: SecretStr
    expires_at: datetime | None = None


RefreshRequest = Callable[[TokenPair], Awaitable[TokenPair]]


class TokenKeeper(Protocol):
    """Where a portal's live pair is kept, and how a refresh is made safe."""

    where: str
    """What an operator fixes when a pair cannot be kept (a setting's name), for messages."""

    async def load(self, portal: str) -> TokenPair | None:
        """The kept pair, or None (the configured pair is then the live one)."""
        ...

    async def refreshed(
        self, portal: str, *, stale_access: str, current: TokenPair, request: RefreshRequest
    ) -> TokenPair:
        """The pair after ``stale_access``: refreshed with ``request`` (at most once, and
        never by two holders at a time) unless someone already replaced it."""
        ...

    async def save(self, portal: str, pair: TokenPair) -> None:
        """Keep a pair refreshed earlier whose save failed; raises ``OSError`` when it cannot."""
        ...

    async def check_writable(self) -> None:
        """Raise ``OSError`` unless a pair could be kept now (checked before a refresh)."""
        ...


class TokenStore:
    """Reads and writes the token file; one instance per process, shared by portals.

    One process only: the caller's per-portal lock is the only guard. For several
    processes use :class:`SharedTokens`.
    """

    where = "SIPLINE_BITRIX24_TOKEN_STORE"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = asyncio.Lock()

    async def load(self, portal: str) -> TokenPair | None:
        """The stored pair for a portal, or None (no file, no entry, or unreadable)."""
        data = await asyncio.to_thread(self._read)
        entry = data.get(portal)
        if not isinstance(entry, dict):
            return None
        access, refresh = entry.get("access_token"), entry.get("refresh_token")
        if not (isinstance(access, str) and isinstance(refresh, str)):
            return None
        return TokenPair(SecretStr(access), SecretStr(refresh))

    async def save(self, portal: str, pair: TokenPair) -> None:
        """Persist a portal's new pair, keeping the other portals' entries."""
        async with self._lock:
            await asyncio.to_thread(self._write, portal, pair)

    async def check_writable(self) -> None:
        """Create the directory if needed, and a file in it, as a save would."""
        async with self._lock:
            await asyncio.to_thread(self._probe)

    def _probe(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tokens-probe-", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write("{}")
                handle.flush()
                os.fsync(handle.fileno())
        finally:
            Path(tmp).unlink(missing_ok=True)

    async def refreshed(
        self, portal: str, *, stale_access: str, current: TokenPair, request: RefreshRequest
    ) -> TokenPair:
        pair = await request(current)
        await self.save(portal, pair)
        return pair

    async def pairs(self) -> dict[str, TokenPair]:
        """Every well-formed entry of the file, by portal (lower case)."""
        data = await asyncio.to_thread(self._read)
        found: dict[str, TokenPair] = {}
        for portal in data:
            pair = await self.load(portal)
            if pair is not None:
                found[portal.lower()] = pair
        return found

    def _read(self) -> dict[str, object]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            logger.warning(
                "token store %s unreadable (%s); using configured tokens",
                self.path,
                type(exc).__name__,
            )
            return {}
        return data if isinstance(data, dict) else {}

    def _write(self, portal: str, pair: TokenPair) -> None:
        data = self._read()
        data[portal] = {
            "access_token": pair.access_token.get_secret_value(),
            "refresh_token": pair.refresh_token.get_secret_value(),
            "updated_at": int(time.time()),
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tokens-", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(data, handle, indent=2, sort_keys=True)
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


class SharedTokens:
    """Pairs kept in the store, shared by every process serving the portal.

    A refresh runs under the store's lock (:func:`worker.store.refresh_under_lock`): one
    request per expiry across all processes; the others read the pair it stored.
    """

    where = "the store (SIPLINE_STORE_URL)"

    def __init__(
        self,
        store: Store,
        *,
        lifetime: timedelta = timedelta(hours=1),
        lease: timedelta = REFRESH_LEASE,
    ) -> None:
        self._store, self._lifetime, self._lease = store, lifetime, lease
        self._writable = False

    async def check_writable(self) -> None:
        """Write a pair (encrypted under the store's key) and roll it back, once.

        Proves at start that a refreshed pair can be kept: a store without
        ``SIPLINE_STORE_KEY`` or a read-only database user fails here, as ``OSError``
        (what the port promises), with the store's own one-line reason. Once proven, later
        calls (one before every refresh) cost nothing: a write failing after that is
        handled by :meth:`refreshed`, which keeps the issued pair and writes it again.
        """
        if self._writable:
            return
        probe = SecretStr("probe")
        try:
            async with self._store.unit_of_work() as uow:
                await uow.tokens.put(
                    PROBE_PORTAL, access_token=probe, refresh_token=probe, expires_at=None
                )
                await uow.rollback()
        except SiplineError as exc:  # no key (StoreKeyError), unreachable, refused
            raise OSError(errno.EACCES, str(exc)) from None
        self._writable = True

    async def save(self, portal: str, pair: TokenPair) -> None:
        """Store a pair refreshed earlier whose write failed; ``OSError`` while it cannot."""
        try:
            async with self._store.unit_of_work() as uow:
                await uow.tokens.put(
                    portal,
                    access_token=pair.access_token,
                    refresh_token=pair.refresh_token,
                    expires_at=pair.expires_at,
                )
                await uow.commit()
        except SiplineError as exc:
            raise OSError(errno.EIO, str(exc)) from None

    async def load(self, portal: str) -> TokenPair | None:
        async with self._store.unit_of_work(readonly=True) as uow:
            record = await uow.tokens.get(portal)
        if record is None:
            return None
        return TokenPair(record.access_token, record.refresh_token, record.expires_at)

    async def refreshed(
        self, portal: str, *, stale_access: str, current: TokenPair, request: RefreshRequest
    ) -> TokenPair:
        async def refresh(stored: TokenRecord) -> IssuedTokens:
            pair = await request(TokenPair(stored.access_token, stored.refresh_token))
            expires = pair.expires_at or datetime.now(UTC) + self._lifetime
            return IssuedTokens(pair.access_token, pair.refresh_token, expires)

        try:
            record = await self._refresh(portal, stale_access, refresh)
        except NoTokens:  # a pair from the settings, not yet in the store: put it there first
            async with self._store.unit_of_work() as uow:
                await uow.tokens.seed(
                    portal,
                    access_token=current.access_token,
                    refresh_token=current.refresh_token,
                    expires_at=None,
                )
                await uow.commit()
            record = await self._refresh(portal, stale_access, refresh)
        return TokenPair(record.access_token, record.refresh_token, record.expires_at)

    async def _refresh(
        self,
        portal: str,
        stale_access: str,
        refresh: TokenRefresher,
    ) -> TokenRecord:
        try:
            return await refresh_under_lock(
                self._store, portal, stale_access=stale_access, refresh=refresh, lease=self._lease
            )
        except TokenPersistError:
            # the refresh token is spent and the new pair is only in this process: the
            # adapter keeps it, is degraded, and saves it again (see OAuthAuth)
            raise OSError(errno.EIO, "the refreshed pair could not be stored") from None


MIGRATED_SUFFIX = ".migrated"


async def migrate_token_file(path: Path, store: Store) -> int:
    """Move the pairs of a JSON token file into the store, once; how many were taken.

    Each pair is put in the store only where the store holds none for its portal (the
    store's pair is then already the live one: another process, or an earlier start,
    put it there and may have refreshed it since). The file is then renamed to
    ``<name>.migrated``, so the next start finds nothing to move and nobody mistakes it for
    the live tokens. A file that cannot be renamed is left in place and read again at the
    next start, which changes nothing.
    """
    pairs = await TokenStore(path).pairs()
    if not pairs:
        return 0
    taken = 0
    async with store.unit_of_work() as uow:
        for portal, pair in sorted(pairs.items()):
            before = await uow.tokens.get(portal)
            await uow.tokens.seed(
                portal,
                access_token=pair.access_token,
                refresh_token=pair.refresh_token,
                expires_at=None,
            )
            if before is None:
                taken += 1
            elif before.refresh_token.get_secret_value() != pair.refresh_token.get_secret_value():
                logger.warning(
                    "OAuth token file %s: portal %s already has tokens in the store; "
                    "kept the store's pair",
                    path,
                    portal,
                )
        await uow.commit()
    target = path.with_name(path.name + MIGRATED_SUFFIX)
    try:
        await asyncio.to_thread(os.replace, path, target)
    except OSError as exc:
        logger.warning(
            "OAuth token file %s moved into the store but not renamed (%s)",
            path,
            exc.strerror or type(exc).__name__,
        )
    logger.info(
        "OAuth token file %s: %d pair(s) moved into the store; the file is now %s",
        path,
        taken,
        target.name,
    )
    return taken
