"""The observer hook sees every request and every limiter wait; the token store survives."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from pydantic import SecretStr

from tests.bitrix24.conftest import DOMAIN, SettingsFactory, portals_for
from worker.adapters.bitrix24 import TokenPair, TokenStore
from worker.adapters.upstream import Upstream
from worker.errors import PermanentError
from worker.sandbox.portal import SandboxPortal


@dataclass
class Recorder:
    """A fake observer (the metrics layer's stand-in)."""

    requests: list[tuple[str, int | None, str]] = field(default_factory=list)
    waits: list[float] = field(default_factory=list)

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
        assert (upstream, portal) == ("bitrix24", DOMAIN)
        assert duration >= 0
        self.requests.append((method, status, code))

    def on_limiter_wait(
        self, *, upstream: Upstream, portal: str, method: str, seconds: float
    ) -> None:
        assert (upstream, portal) == ("bitrix24", DOMAIN)
        self.waits.append(seconds)


async def test_observer_sees_requests_and_waits(
    session: aiohttp.ClientSession, make_settings: SettingsFactory, portal: SandboxPortal
) -> None:
    recorder = Recorder()
    settings = make_settings(portal={"bucket_capacity": 3, "drain_per_second": 50.0})
    client = portals_for(session, settings, observer=recorder, bucket_headroom=0).get(DOMAIN).client
    for _ in range(5):
        await client.connector_status()
    with pytest.raises(PermanentError):
        await client.sip_delete(12345)
    assert recorder.requests[0] == ("voximplant.sip.connector.status", 200, "OK")
    assert recorder.requests[-1] == ("voximplant.sip.delete", 400, "ERROR_NOT_FOUND")
    assert len(recorder.waits) >= 2
    assert client.requests_made == 6


async def test_token_store_round_trip_and_bad_file(tmp_path: Path) -> None:
    store = TokenStore(tmp_path / "sub" / "tokens.json")
    assert await store.load("a") is None
    await store.save("a", TokenPair(SecretStr("acc"), SecretStr("ref")))
    await store.save("b", TokenPair(SecretStr("acc2"), SecretStr("ref2")))
    loaded = await store.load("a")
    assert loaded is not None
    assert loaded.refresh_token.get_secret_value() == "ref"
    assert (store.path.stat().st_mode & 0o777) == 0o600
    store.path.write_text("{not json")
    assert await store.load("a") is None
