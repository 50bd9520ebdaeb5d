"""Fixtures: one pair of RSA keys per session, a real sandbox account over loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from worker.adapters.upstream import Upstream
from worker.adapters.voximplant import (
    ServiceAccountCredentials,
    TokenCache,
    VoximplantClient,
    load_credentials,
)
from worker.sandbox.registrations import RegistrationStore
from worker.sandbox.voximplant import SandboxAccount

T0 = 1_750_000_000.0


class FakeClock:
    """Wall-clock time that moves only when a test says so."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class RecordingObserver:
    """Remembers every request the client reports."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int | None, str]] = []

    def on_request(
        self,
        *,
        upstream: Upstream,
        portal: str | None,
        method: str,
        status: int | None,
        code: str,
        duration: float,
    ) -> None:
        assert (upstream, portal) == ("voximplant", None)
        assert duration >= 0
        self.calls.append((method, status, code))

    def on_limiter_wait(
        self, *, upstream: Upstream, portal: str, method: str, seconds: float
    ) -> None:
        raise AssertionError("the Voximplant client has no limiter")


@pytest.fixture(scope="session")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def foreign_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store() -> RegistrationStore:
    # Settled at once: the tests here are about the Voximplant side, not settling.
    return RegistrationStore(wait_seconds=0.0, progress_seconds=0.0, clock=lambda: T0)


@pytest.fixture
async def account(
    store: RegistrationStore, tmp_path: Path, rsa_key: rsa.RSAPrivateKey, clock: FakeClock
) -> AsyncIterator[SandboxAccount]:
    account = SandboxAccount(
        store=store, directory=tmp_path / "voximplant", private_key=rsa_key, clock=clock
    )
    await account.start()
    yield account
    await account.stop()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def credentials(account: SandboxAccount) -> ServiceAccountCredentials:
    return load_credentials(account.credentials_path)


@pytest.fixture
def tokens(credentials: ServiceAccountCredentials, clock: FakeClock) -> TokenCache:
    return TokenCache(credentials=credentials, clock=clock)


@pytest.fixture
def observer() -> RecordingObserver:
    return RecordingObserver()


@pytest.fixture
def client(
    session: aiohttp.ClientSession,
    account: SandboxAccount,
    tokens: TokenCache,
    observer: RecordingObserver,
) -> VoximplantClient:
    return VoximplantClient(
        session=session,
        tokens=tokens,
        api_url=account.api_url,
        total_timeout=5.0,
        observer=observer,
    )


def make_lines(store: RegistrationStore, n: int, *, server: str = "sip.sandbox.test") -> list[int]:
    """``n`` registrations the sandbox accepts; their ids."""
    return [store.create(server, f"line{i:05d}", "sandbox-pass").reg_id for i in range(n)]
