"""Token checks as the Voximplant documentation says the Management API makes them.

Each refusal is an :class:`ApiError` with the documented code, answered in the documented
envelope with HTTP 200:

=====  ==========================================================
100    no bearer token, a bad signature, or ``iss`` not this account
433    ``kid`` names no key of this account
447    not a JWT, not RS256, or ``iat``/``exp`` missing or not numbers
454    ``exp - iat`` over 3600 s
455    ``iat`` in the future (beyond the leeway)
456    expired
=====  ==========================================================
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

__all__ = ["MAX_LIFETIME", "ApiError", "TokenVerifier"]

MAX_LIFETIME = 3600


class ApiError(Exception):
    """A Management API error, sent as ``{"error": {"msg", "code"}, "errors": [...]}``."""

    def __init__(self, code: int, msg: str) -> None:
        super().__init__(f"{code}: {msg}")
        self.code = code
        self.msg = msg

    def envelope(self) -> dict[str, Any]:
        error = {"msg": self.msg, "code": self.code}
        return {"error": error, "errors": [error]}


class TokenVerifier:
    """Checks bearer tokens against the account's public keys; counts signature checks."""

    def __init__(
        self,
        *,
        account_id: int,
        keys: Mapping[str, RSAPublicKey],
        clock: Callable[[], float] = time.time,
        leeway: float = 0.0,
        max_lifetime: int = MAX_LIFETIME,
    ) -> None:
        self.account_id = account_id
        self.keys = dict(keys)
        self.clock = clock
        self.leeway = leeway
        self.max_lifetime = max_lifetime
        self.signatures_verified = 0

    def verify_header(self, authorization: str | None) -> None:
        """Check an ``Authorization`` header value; raise :class:`ApiError` if refused."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(100, "Authorization failed")
        self.verify(token.strip())

    def verify(self, token: str) -> dict[str, Any]:
        """The token's claims, if Voximplant would accept it."""
        key = self._key_for(token)
        self.signatures_verified += 1
        try:
            payload = jwt.PyJWS().decode(token, key, algorithms=["RS256"])
        except jwt.InvalidSignatureError:
            raise ApiError(100, "Authorization failed") from None
        except jwt.PyJWTError:
            raise ApiError(447, "Invalid token format") from None
        claims = _claims(payload)
        self._check_claims(claims)
        return claims

    def _key_for(self, token: str) -> RSAPublicKey:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise ApiError(447, "Invalid token format") from None
        if header.get("alg") != "RS256":
            raise ApiError(447, "Invalid token format")
        key = self.keys.get(str(header.get("kid")))
        if key is None:
            raise ApiError(433, "Invalid key id")
        return key

    def _check_claims(self, claims: dict[str, Any]) -> None:
        if not _is_account(claims.get("iss"), self.account_id):
            raise ApiError(100, "Authorization failed")
        iat, exp = _number(claims.get("iat")), _number(claims.get("exp"))
        if iat is None or exp is None:
            raise ApiError(447, "Invalid token format")
        if exp - iat > self.max_lifetime:
            raise ApiError(454, "Token TTL exceeds the maximum")
        now = self.clock()
        if iat > now + self.leeway:
            raise ApiError(455, "Token issued in the future")
        if exp <= now - self.leeway:
            raise ApiError(456, "Token has expired")


def _claims(payload: bytes) -> dict[str, Any]:
    try:
        claims = json.loads(payload)
    except ValueError:
        raise ApiError(447, "Invalid token format") from None
    if not isinstance(claims, dict):
        raise ApiError(447, "Invalid token format")
    return claims


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _is_account(value: object, account_id: int) -> bool:
    """``iss`` may be the number or its decimal string."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return value == account_id
    return isinstance(value, str) and value.strip() == str(account_id)
