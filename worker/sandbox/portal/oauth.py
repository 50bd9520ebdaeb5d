"""The portal's OAuth side: access tokens that expire, single-use refresh tokens.

Bitrix24 serves the token endpoint from ``oauth.bitrix24.tech``, not from the portal; the
sandbox serves it beside the portal (``/oauth/token/``) and the settings name it.

As on Bitrix24: a REST call with an access token past its lifetime gets ``401
expired_token``; a refresh spends the refresh token whether or not the caller keeps the
new pair, so a second use of it gets ``400 invalid_grant``; an access token stays valid
until it expires even after a refresh; an uninstall revokes every token.  Expired access
tokens and spent refresh tokens are remembered (up to :data:`REMEMBERED`) so that their
reuse is answered as Bitrix24 answers it, not as an unknown token.

``expiries`` counts the access tokens that were used after their lifetime (each once,
however many callers presented it): the number of refreshes a perfectly coordinated set
of clients needs. ``refreshes / expiries`` is 1.0 when every expiry cost one refresh.
``early_refreshes`` counts the refreshes of a pair whose access token nobody presented
after its lifetime (a client that refreshes a pair about to expire, or one it found already
expired without using it): so ``refreshes == expiries + early_refreshes`` when no expiry
costs more than one refresh.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from worker.sandbox.portal.errors import ApiError

REMEMBERED = 10_000


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
        self._spent: dict[str, None] = {}  # insertion-ordered, for trimming
        self._expired_seen: dict[str, None] = {}
        self._paired: dict[str, str] = {}  # live refresh token → its access token
        self.refreshes = 0
        self.expiries = 0
        self.early_refreshes = 0
        self.member_id = secrets.token_hex(16)

    def grant(self) -> IssuedTokens:
        """A fresh pair, as the installation of the application would give."""
        pair = IssuedTokens(secrets.token_hex(16), secrets.token_hex(16))
        self._access[pair.access_token] = self._clock() + self.access_token_ttl
        self._refresh.add(pair.refresh_token)
        self._paired[pair.refresh_token] = pair.access_token
        _trim(self._access)
        _trim(self._paired)
        return pair

    def knows(self, refresh_token: str) -> bool:
        """Whether this portal issued ``refresh_token`` (spent or not)."""
        return refresh_token in self._refresh or refresh_token in self._spent

    def revoke_all(self) -> None:
        """Every token stops working, as when the application is uninstalled."""
        self._access.clear()
        self._spent.update(dict.fromkeys(self._refresh))
        self._refresh.clear()
        self._paired.clear()
        _trim(self._spent)

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
            if str(token) not in self._expired_seen:
                self._expired_seen[str(token)] = None
                self.expiries += 1
                _trim(self._expired_seen)
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
        self._spent[old] = None
        _trim(self._spent)
        if self._paired.pop(old, None) not in self._expired_seen:
            self.early_refreshes += 1
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
            "member_id": self.member_id,
            "user_id": 1,
            "status": "L",
        }


def _trim(remembered: dict[str, Any]) -> None:
    """Forget the oldest entries beyond :data:`REMEMBERED` (dicts keep insertion order)."""
    while len(remembered) > REMEMBERED:
        del remembered[next(iter(remembered))]
