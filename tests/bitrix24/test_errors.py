"""Every error class the client can raise, produced by the sandbox as a portal would."""

from __future__ import annotations

import aiohttp
import pytest

from tests.bitrix24.conftest import DOMAIN, FAST, SettingsFactory, client_for
from worker.adapters.bitrix24 import Bitrix24Client, Bitrix24Portals, error_class
from worker.errors import (
    AuthorizationError,
    BadInput,
    PermanentError,
    RateLimited,
    UpstreamUnavailable,
)
from worker.sandbox.portal import SandboxPortal


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("QUERY_LIMIT_EXCEEDED", 503, RateLimited),
        ("OPERATION_TIME_LIMIT", 429, RateLimited),
        ("invalid_token", 401, AuthorizationError),
        ("NO_AUTH_FOUND", 401, AuthorizationError),
        ("insufficient_scope", 403, AuthorizationError),
        ("INVALID_CREDENTIALS", 401, AuthorizationError),
        ("user_access_error", 403, AuthorizationError),
        ("ACCESS_DENIED", 403, AuthorizationError),
        ("ERROR_METHOD_NOT_FOUND", 404, PermanentError),
        ("INTERNAL_SERVER_ERROR", 500, UpstreamUnavailable),
        ("ERROR_UNEXPECTED_ANSWER", 500, UpstreamUnavailable),
        ("OVERLOAD_LIMIT", 503, PermanentError),
        ("SOMETHING_NEW", 502, UpstreamUnavailable),
        ("SOMETHING_NEW", 400, PermanentError),
        ("something_new", 403, AuthorizationError),
    ],
)
def test_mapping_table(code: str, status: int, expected: type[Exception]) -> None:
    assert error_class(code, status) is expected


def test_overload_limit_is_not_transient() -> None:
    assert not issubclass(error_class("OVERLOAD_LIMIT", 503), UpstreamUnavailable)


def test_unknown_portal_is_bad_input(portals: Bitrix24Portals) -> None:
    with pytest.raises(BadInput) as caught:
        portals.get("nowhere.bitrix24.test")
    assert caught.value.reason == "unknown_portal"


def test_portal_names_are_case_insensitive(portals: Bitrix24Portals) -> None:
    assert portals.get(DOMAIN.upper()) is portals.get(DOMAIN)


async def test_wrong_webhook_code(
    session: aiohttp.ClientSession, make_settings: SettingsFactory, portal: SandboxPortal
) -> None:
    wrong = portal.webhook_url.replace(portal.options.webhook_code, "nottherightcode")
    settings = make_settings(portal={"webhook_url": wrong})
    client = client_for(session, settings)
    with pytest.raises(AuthorizationError) as caught:
        await client.connector_status()
    assert caught.value.code == "INVALID_CREDENTIALS"


async def test_access_denied(client: Bitrix24Client, portal: SandboxPortal) -> None:
    portal.options.telephony_rights = False
    with pytest.raises(AuthorizationError) as caught:
        await client.sip_get()
    assert caught.value.code == "ACCESS_DENIED"


async def test_unknown_method(client: Bitrix24Client) -> None:
    with pytest.raises(PermanentError) as caught:
        await client.call("voximplant.sip.nothing")
    assert caught.value.code == "ERROR_METHOD_NOT_FOUND"


@pytest.mark.parametrize(
    ("fault", "code"),
    [
        ("error_500", "INTERNAL_SERVER_ERROR"),
        ("html", "NON_JSON_BODY"),
        ("drop", "CONNECTION_ERROR"),
    ],
)
async def test_faults_are_transient(
    client: Bitrix24Client, portal: SandboxPortal, fault: str, code: str
) -> None:
    portal.set_faults(**{fault: 1.0})
    with pytest.raises(UpstreamUnavailable) as caught:
        await client.connector_status()
    assert caught.value.code == code
    assert portal.counters.injected[fault] == 1
    portal.set_faults(**{fault: 0.0})
    assert (await client.connector_status()).paid


async def test_total_timeout(
    session: aiohttp.ClientSession, make_settings: SettingsFactory, portal: SandboxPortal
) -> None:
    settings = make_settings(total_timeout=0.1)
    client = client_for(session, settings)
    portal.set_faults(latency=0.5)
    with pytest.raises(UpstreamUnavailable) as caught:
        await client.connector_status()
    assert caught.value.code == "TIMEOUT"


async def test_connect_failure(
    session: aiohttp.ClientSession, make_settings: SettingsFactory, portal: SandboxPortal
) -> None:
    dead = portal.webhook_url
    await portal.stop()
    client = client_for(session, make_settings(portal={"webhook_url": dead}))
    with pytest.raises(UpstreamUnavailable) as caught:
        await client.connector_status()
    assert caught.value.code == "CONNECTION_ERROR"


async def test_query_limit_backs_off_then_gives_up(
    client: Bitrix24Client, portal: SandboxPortal
) -> None:
    portal.set_faults(query_limit=1.0)
    with pytest.raises(RateLimited) as caught:
        await client.connector_status()
    assert caught.value.code == "QUERY_LIMIT_EXCEEDED"
    assert caught.value.retry_after is not None
    assert caught.value.retry_after > 0
    assert portal.counters.injected["query_limit"] == 1 + FAST.query_limit_retries


async def test_query_limit_retry_succeeds(client: Bitrix24Client, portal: SandboxPortal) -> None:
    portal.set_faults(query_limit=0.2)  # seeded dice: some calls meet it, all succeed
    for _ in range(10):
        assert (await client.connector_status()).paid
    assert portal.counters.injected["query_limit"] > 0


@pytest.fixture
def operating_portal(portal: SandboxPortal) -> SandboxPortal:
    portal.state.meter.limit = 0.05
    portal.state.meter.window = 30.0
    portal.options.method_cost = 0.03
    return portal


async def test_operating_limit_pauses_only_that_method(
    client: Bitrix24Client, operating_portal: SandboxPortal
) -> None:
    await client.sip_get()
    await client.sip_get()
    with pytest.raises(RateLimited) as caught:
        await client.sip_get()
    assert caught.value.code == "OPERATION_TIME_LIMIT"
    assert caught.value.retry_after is not None
    assert 20 < caught.value.retry_after <= 31
    sent = operating_portal.counters.requests
    with pytest.raises(RateLimited):
        await client.sip_get()  # paused client-side: no request
    assert operating_portal.counters.requests == sent
    assert (await client.connector_status()).paid  # other methods go on
