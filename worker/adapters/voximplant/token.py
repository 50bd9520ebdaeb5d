"""The Management API's bearer token: signed once, shared, re-signed shortly before expiry.

An RS256 signature costs about a millisecond of CPU; the official Python client pays it on
every request.  :class:`TokenCache` signs one token per lifetime and hands the same string
to every caller.  The check-and-sign step holds a lock and contains no ``await``, so
concurrent coroutines (and threads) always share one token: no signing stampede.

``iat`` is back-dated by ``skew`` seconds, as the official clients do, so that a server
clock slightly behind ours does not answer 455 ("issued in the future"); ``exp`` is
``iat + lifetime`` so the lifetime Voximplant checks (``exp - iat``) never exceeds 3600 s.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import jwt

from worker.adapters.voximplant.credentials import ServiceAccountCredentials

__all__ = ["MAX_TOKEN_LIFETIME", "TokenCache", "TokenSource", "sign_token"]

MAX_TOKEN_LIFETIME = 3600
"""Voximplant refuses tokens whose ``exp - iat`` is larger (error 454)."""

Clock = Callable[[], float]

_JWS = jwt.PyJWS()


class TokenSource(Protocol):
    """What the client needs from a token provider (the cache, or a per-request signer)."""

    @property
    def signatures(self) -> int:
        """How many tokens have been signed so far."""
        ...

    def get(self) -> str:
        """A token valid now."""
        ...

    def invalidate(self, token: str) -> None:
        """The server refused ``token``: do not hand it out again."""
        ...


def sign_token(credentials: ServiceAccountCredentials, *, issued_at: int, lifetime: int) -> str:
    """One RS256 token with the header and claims Voximplant checks."""
    if not 0 < lifetime <= MAX_TOKEN_LIFETIME:
        raise ValueError(f"token lifetime must be within 1..{MAX_TOKEN_LIFETIME} seconds")
    # The integer account id, as the official clients send it.  PyJWT's high-level
    # ``jwt.encode`` insists on a string ``iss``, so the JWS layer signs the JSON directly.
    claims = {"iss": credentials.account_id, "iat": issued_at, "exp": issued_at + lifetime}
    return _JWS.encode(
        json.dumps(claims, separators=(",", ":")).encode("utf-8"),
        credentials.private_key,
        algorithm="RS256",
        headers={"kid": credentials.key_id, "typ": "JWT"},
    )


@dataclass(slots=True)
class _Cached:
    token: str
    refresh_at: float


class TokenCache:
    """Signs a token once and reuses it until ``refresh_margin`` seconds before it expires."""

    def __init__(
        self,
        *,
        credentials: ServiceAccountCredentials,
        lifetime: int = MAX_TOKEN_LIFETIME,
        skew: int = 5,
        refresh_margin: float = 60.0,
        clock: Clock = time.time,
    ) -> None:
        if not 0 < lifetime <= MAX_TOKEN_LIFETIME:
            raise ValueError(f"token lifetime must be within 1..{MAX_TOKEN_LIFETIME} seconds")
        if skew < 0 or refresh_margin < 0:
            raise ValueError("skew and refresh_margin must not be negative")
        self._credentials = credentials
        self._lifetime = lifetime
        self._skew = skew
        # A margin larger than the token's useful life would re-sign on every call.
        self._margin = min(refresh_margin, (lifetime - skew) / 2)
        self._clock = clock
        self._lock = threading.Lock()
        self._cached: _Cached | None = None
        self._signatures = 0

    def __repr__(self) -> str:
        return f"TokenCache(key_id={self._credentials.key_id!r}, signatures={self._signatures})"

    @property
    def signatures(self) -> int:
        return self._signatures

    def get(self) -> str:
        with self._lock:
            now = self._clock()
            cached = self._cached
            if cached is not None and now < cached.refresh_at:
                return cached.token
            issued_at = int(now) - self._skew
            token = sign_token(self._credentials, issued_at=issued_at, lifetime=self._lifetime)
            self._signatures += 1
            expires_at = issued_at + self._lifetime
            self._cached = _Cached(token=token, refresh_at=expires_at - self._margin)
            return token

    def invalidate(self, token: str) -> None:
        """Forget ``token`` unless another caller already replaced it (compare-and-drop)."""
        with self._lock:
            if self._cached is not None and self._cached.token == token:
                self._cached = None
