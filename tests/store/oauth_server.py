"""A real OAuth token endpoint (aiohttp), single-use refresh tokens as Bitrix24's, counting.

``GET /oauth/token/?grant_type=refresh_token&refresh_token=R&client_id=…&client_secret=…``
answers a new pair and spends ``R``; a spent or unknown ``R`` gets ``400 invalid_grant``.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import aiohttp
from aiohttp import web
from pydantic import SecretStr

from worker.store import IssuedTokens, TokenRecord


@dataclass
class TokenServer:
    live_refresh: set[str] = field(default_factory=lambda: {"r0"})
    refreshes: int = 0
    invalid_grants: int = 0
    delay: float = 0.05
    expires_in: float = 3600
    url: str = ""
    _numbers: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    async def handle(self, request: web.Request) -> web.Response:
        token = request.query.get("refresh_token", "")
        if request.query.get("grant_type") != "refresh_token" or token not in self.live_refresh:
            self.invalid_grants += 1
            return web.json_response({"error": "invalid_grant"}, status=400)
        self.live_refresh.discard(token)  # spent, whether or not the caller stores the answer
        await asyncio.sleep(self.delay)  # widen the window a second refresher would hit
        n = next(self._numbers)
        self.refreshes += 1
        self.live_refresh.add(f"r{n}")
        return web.json_response(
            {"access_token": f"a{n}", "refresh_token": f"r{n}", "expires_in": self.expires_in}
        )


@asynccontextmanager
async def token_server() -> AsyncIterator[TokenServer]:
    server = TokenServer()
    app = web.Application()
    app.router.add_get("/oauth/token/", server.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    server.url = f"http://127.0.0.1:{port}/oauth/token/"
    try:
        yield server
    finally:
        await runner.cleanup()


class HttpRefresher:
    """What the Bitrix24 OAuth adapter does, reduced to the request."""

    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self._session, self._url = session, url

    async def __call__(self, current: TokenRecord) -> IssuedTokens:
        params = {
            "grant_type": "refresh_token",
            "client_id": "local.app",
            "client_secret": "secret",
            "refresh_token": current.refresh_token.get_secret_value(),
        }
        async with self._session.get(self._url, params=params) as response:
            body = await response.json()
        if "error" in body:
            raise RuntimeError(f"refresh refused: {body['error']}")
        return IssuedTokens(
            access_token=SecretStr(body["access_token"]),
            refresh_token=SecretStr(body["refresh_token"]),
            expires_at=datetime.now(UTC) + timedelta(seconds=int(body["expires_in"])),
        )
