"""Persisted OAuth tokens, so that a restart does not lose a rotated refresh token.

Bitrix24 refresh tokens are effectively single-use: once refreshed, the token in the
settings is stale, and only the store knows the live one. So a refresh token must never be
spent unless the new pair can be kept: :meth:`TokenStorage.check_writable` runs at start-up
(an unwritable store is a configuration error) and again before every refresh (see
:mod:`worker.adapters.bitrix24.auth` for what happens when a save still fails).

:class:`TokenStorage` is the port; :class:`TokenStore` keeps the pairs in a JSON file keyed
by portal domain, written atomically (temp file + rename) with owner-only permissions. A
database-backed store implements the same protocol.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from pydantic import SecretStr

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TokenPair:
    """An access token and the refresh token issued with it."""

    access_token: SecretStr
    refresh_token: SecretStr


class TokenStorage(Protocol):
    """Where refreshed token pairs live across restarts."""

    async def load(self, portal: str) -> TokenPair | None:
        """The stored pair for a portal, or None."""

    async def save(self, portal: str, pair: TokenPair) -> None:
        """Persist a portal's new pair; raises ``OSError`` when it cannot."""

    async def check_writable(self) -> None:
        """Raise ``OSError`` unless a :meth:`save` would succeed now."""


class TokenStore:
    """Reads and writes the token file; one instance per process, shared by portals."""

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
