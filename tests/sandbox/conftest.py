"""Fixtures for the sandbox's own tests: a recording HTTP receiver, a waiting helper."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives.asymmetric import rsa

from worker.sandbox.stack import Sandbox, many_portals


@dataclass
class Receiver:
    """A real HTTP server that records what it is sent and answers ``statuses`` in turn."""

    server: TestServer
    statuses: list[int] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return str(self.server.make_url("/hook"))

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        self.requests.append(
            {"content_type": request.content_type, "raw": raw, "headers": dict(request.headers)}
        )
        status = self.statuses.pop(0) if self.statuses else 200
        return web.json_response({"ok": status == 200}, status=status)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    app = web.Application()
    holder: dict[str, Receiver] = {}

    async def handle(request: web.Request) -> web.Response:
        return await holder["r"].handle(request)

    app.router.add_post("/hook", handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    holder["r"] = Receiver(server)
    yield holder["r"]
    await server.close()


@pytest.fixture(scope="session")
def rsa_key() -> rsa.RSAPrivateKey:
    """One account key for the module's accounts (making one takes a second or more)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


ManyPortals = Callable[..., AbstractAsyncContextManager[Sandbox]]


@pytest.fixture
def many(rsa_key: rsa.RSAPrivateKey) -> ManyPortals:
    """:func:`many_portals` with the shared account key."""
    return functools.partial(many_portals, account_key=rsa_key)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as opened:
        yield opened


async def eventually(
    check: Callable[[], bool | Awaitable[bool]], *, within: float = 5.0, every: float = 0.02
) -> None:
    """Wait for a condition with a deadline (never a bare sleep)."""
    deadline = time.monotonic() + within
    while True:
        outcome = check()
        if not isinstance(outcome, bool):
            outcome = await outcome
        if outcome:
            return
        if time.monotonic() > deadline:
            raise AssertionError("condition not met before the deadline")
        await asyncio.sleep(every)
