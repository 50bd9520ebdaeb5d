"""A sandbox portal on a loopback port, a session and clients wired to it.

Timings are shrunk (registrations settle in 0.1 s) and the bucket is wide unless a test
narrows it, so the directory runs in seconds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

import aiohttp
import pytest

from worker.adapters.bitrix24 import Bitrix24Client, Bitrix24Portals, Bitrix24Settings, TokenStore
from worker.adapters.upstream import RequestObserver
from worker.sandbox.portal import PortalOptions, SandboxPortal
from worker.sandbox.registrations import DEFAULT_PASSWORD, DEFAULT_SERVER, RegistrationStore
from worker.settings import Settings

DOMAIN = "canary.bitrix24.test"
CANARY_CODE = "CANARYwebhook7c1e"
CANARY_PASSWORD = "CANARY-pw-51d2"
GOOD = {"server": DEFAULT_SERVER, "login": "100", "password": DEFAULT_PASSWORD}
FAST = Bitrix24Settings(query_limit_retries=2, query_limit_backoff=0.05)


@pytest.fixture
def registrations() -> RegistrationStore:
    return RegistrationStore(wait_seconds=0.05, progress_seconds=0.05)


@pytest.fixture
def options() -> PortalOptions:
    """Override in a test module to change the portal."""
    return PortalOptions(
        domain=DOMAIN,
        webhook_code=CANARY_CODE,
        bucket_capacity=1000,
        drain_per_second=1000.0,
        seed=7,
    )


@pytest.fixture
async def portal(
    registrations: RegistrationStore, options: PortalOptions
) -> AsyncIterator[SandboxPortal]:
    async with SandboxPortal(registrations=registrations, options=options) as started:
        yield started


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as opened:
        yield opened


SettingsFactory = Callable[..., Settings]


@pytest.fixture
def make_settings(portal: SandboxPortal, tmp_path: Path) -> SettingsFactory:
    def build(auth: Literal["webhook", "oauth"] = "webhook", **overrides: Any) -> Settings:
        entry = overrides.pop("entry", None) or portal.portal_settings(auth=auth)
        entry.update(overrides.pop("portal", {}))
        return Settings(
            portals={DOMAIN: entry},
            bitrix24_token_store=tmp_path / "tokens.json",
            bitrix24_total_timeout=overrides.pop("total_timeout", 5.0),
            **overrides,
        )

    return build


def portals_for(
    session: aiohttp.ClientSession,
    settings: Settings,
    *,
    observer: RequestObserver | None = None,
    **tuning: Any,
) -> Bitrix24Portals:
    """The registry the settings describe, with the fast tuning (``tuning`` overrides it)."""
    return Bitrix24Portals(
        session=session,
        token_store=TokenStore(settings.bitrix24_token_store),
        settings=replace(FAST, total_timeout=settings.bitrix24_total_timeout, **tuning),
        observer=observer,
        portals=settings.portals,
    )


def client_for(session: aiohttp.ClientSession, settings: Settings, **tuning: Any) -> Bitrix24Client:
    return portals_for(session, settings, **tuning).get(DOMAIN).client


@pytest.fixture
def portals(session: aiohttp.ClientSession, make_settings: SettingsFactory) -> Bitrix24Portals:
    return portals_for(session, make_settings())


@pytest.fixture
def client(portals: Bitrix24Portals) -> Bitrix24Client:
    return portals.get(DOMAIN).client


async def eventually(
    check: Callable[[], Awaitable[bool]], *, within: float = 5.0, every: float = 0.02
) -> None:
    """Wait for a condition with a deadline (never a bare sleep)."""
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met before the deadline")
        await asyncio.sleep(every)
