"""The portal's OAuth side: access tokens that expire, single-use refresh tokens.

Bitrix24 serves the token endpoint from ``oauth.bitrix24.tech``, not from the portal; the
sandbox serves it beside the portal (``/oauth/token/``) and the settings name it.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from worker.sandbox.portal.errors import ApiError


@dataclass(frozen=True, slots=True)
class IssuedTokens:
    access_token: str
    refresh_token: str


class OAuthServer:
    """Issues and checks one application's tokens."""

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        access_token_ttl: float,
        domain: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client_id, self.client_secret = client_id, client_secret
        self.access_token_ttl, self.domain, self._clock = access_token_ttl, domain, clock
        self._access: dict[str, float] = {}
        self._refresh: set[str] = set()
        self.refreshes = 0

    def grant(self) -> IssuedTokens:
        """A fresh pair, as the installation of the application would give."""
        pair = IssuedTokens(secrets.token_hex(16), secrets.token_hex(16))
        self._access[pair.access_token] = self._clock() + self.access_token_ttl
        self._refresh.add(pair.refresh_token)
        return pair

    def expire_access_tokens(self) -> None:
        """Make every access token issued so far expired (tests, the CLI)."""
        now = self._clock()
        self._access = dict.fromkeys(self._access, now - 1)

    def check(self, token: object) -> str:
        """The application id behind a valid access token, or the documented 401."""
        if not token:
            raise ApiError("NO_AUTH_FOUND", "Wrong authorization data", 401)
        expires = self._access.get(str(token))
        if expires is None:
            raise ApiError("invalid_token", "Unable to authenticate user", 401)
        if expires <= self._clock():
            raise ApiError("expired_token", "The access token provided has expired.", 401)
        return self.client_id

    def refresh(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """``grant_type=refresh_token``: the old refresh token is spent either way."""
        if params.get("grant_type") != "refresh_token":
            raise ApiError("unsupported_grant_type", "Only refresh_token is supported", 400)
        if (
            params.get("client_id") != self.client_id
            or params.get("client_secret") != self.client_secret
        ):
            raise ApiError("invalid_client", "Invalid client credentials", 401)
        old = str(params.get("refresh_token") or "")
        if old not in self._refresh:
            raise ApiError("invalid_grant", "Invalid refresh token", 400)
        self._refresh.discard(old)
        pair = self.grant()
        self.refreshes += 1
        return {
            "access_token": pair.access_token,
            "refresh_token": pair.refresh_token,
            "expires": int(self._clock() + self.access_token_ttl),
            "expires_in": int(self.access_token_ttl),
            "scope": "telephony",
            "domain": self.domain,
            "server_endpoint": "https://oauth.bitrix24.tech/rest/",
            "client_endpoint": f"https://{self.domain}/rest/",
            "member_id": "sandbox",
            "user_id": 1,
            "status": "L",
        }
