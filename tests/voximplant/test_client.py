"""The client against the real sandbox account over loopback HTTP."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from tests.voximplant.conftest import FakeClock, RecordingObserver, make_lines
from worker.adapters.voximplant import (
    ServiceAccountCredentials,
    SipRegistrationFilter,
    TokenCache,
    VoximplantClient,
)
from worker.domain.errors import RegistrationNotFound
from worker.errors import (
    AuthorizationError,
    PermanentError,
    RateLimited,
    TransientError,
    UpstreamUnavailable,
)
from worker.sandbox.registrations import RegistrationStore
from worker.sandbox.voximplant import SandboxAccount


async def test_thousand_calls_sign_once(
    client: VoximplantClient, account: SandboxAccount, store: RegistrationStore
) -> None:
    (reg_id,) = make_lines(store, 1)

    async def one() -> None:
        found = await client.get_sip_registration(reg_id)
        assert found is not None
        assert found.sip_registration_id == reg_id

    for _ in range(20):  # 50 at a time: concurrent callers share the one token
        await asyncio.gather(*(one() for _ in range(50)))
    assert client.requests_made == 1000
    assert client.signatures == 1
    assert account.requests == 1000
    assert account.signatures_verified == 1000


async def test_past_expiry_the_next_call_signs_again(
    client: VoximplantClient, account: SandboxAccount, store: RegistrationStore, clock: FakeClock
) -> None:
    (reg_id,) = make_lines(store, 1)
    assert await client.get_sip_registration(reg_id) is not None
    clock.advance(3000)
    assert await client.get_sip_registration(reg_id) is not None
    assert client.signatures == 1
    clock.advance(3600)  # the sandbox shares the clock: the old token is expired there
    assert await client.get_sip_registration(reg_id) is not None
    assert client.signatures == 2
    assert client.requests_made == 3  # re-signed before sending, not after a refusal


async def test_2500_registrations_read_through_paging(
    client: VoximplantClient, store: RegistrationStore, observer: RecordingObserver
) -> None:
    ids = make_lines(store, 2500)
    seen = [r.sip_registration_id async for r in client.iter_sip_registrations(page_size=100)]
    assert seen == ids
    assert client.requests_made == 26  # 25 full pages and the short (empty) one
    assert client.signatures == 1
    assert observer.calls == [("GetSipRegistrations", 200, "OK")] * 26


async def test_paging_stops_at_a_short_page(
    client: VoximplantClient, store: RegistrationStore
) -> None:
    ids = make_lines(store, 250)
    seen = [r.sip_registration_id async for r in client.iter_sip_registrations(page_size=100)]
    assert seen == ids
    assert client.requests_made == 3


async def test_registration_fields(client: VoximplantClient, store: RegistrationStore) -> None:
    ok = store.create("sip.sandbox.test", "alice", "sandbox-pass")
    bad = store.create("sip.sandbox.test", "bob", "wrong")
    good = await client.get_sip_registration(ok.reg_id)
    assert good is not None
    assert (good.sip_username, good.proxy, good.auth_user) == ("alice", "sip.sandbox.test", "alice")
    assert (good.successful, good.status_code, good.deactivated) == (True, 200, False)
    failed = await client.get_sip_registration(bad.reg_id)
    assert failed is not None
    assert (failed.successful, failed.status_code, failed.error_message) == (
        False,
        401,
        "Unauthorized",
    )
    assert await client.get_sip_registration(999_999) is None


async def _ids(client: VoximplantClient, **filters: object) -> list[int]:
    flt = SipRegistrationFilter.model_validate(filters)
    return [r.sip_registration_id async for r in client.iter_sip_registrations(flt)]


async def test_every_filter_reaches_the_account(
    client: VoximplantClient, store: RegistrationStore, account: SandboxAccount
) -> None:
    a, b, c, d = make_lines(store, 4)
    e = store.create("other.example", "x", "sandbox-pass").reg_id  # 408 Request Timeout
    account.diverge(b, deactivated=True)
    account.diverge(c, successful=False, status_code=403, error_message="Forbidden")
    assert await _ids(client, sip_registration_id=a) == [a]
    assert await _ids(client, sip_username="line00003") == [d]
    assert await _ids(client, deactivated=True) == [b]
    assert await _ids(client, successful=False) == [c, e]
    assert await _ids(client, successful=True, deactivated=False) == [a, d]
    assert await _ids(client, in_progress=False) == [a, b, c, d, e]
    assert await _ids(client, in_progress=True) == []
    assert await _ids(client, is_persistent=True) == [a, b, c, d, e]
    assert await _ids(client, is_bound_to_application=False) == [a, b, c, d, e]
    assert await _ids(client, is_bound_to_application=True) == []
    assert await _ids(client, proxy=["other.example", "nowhere"]) == [e]
    assert await _ids(client, status_code="200") == [a, b, d]
    assert await _ids(client, status_code="400:499") == [c, e]
    assert await _ids(client, status_code="401;403") == [c]
    assert await _ids(client, status_code="100;402:410") == [c, e]
    for name, value in [
        ("application_id", [1]),
        ("application_name", ["app"]),
        ("rule_id", [1, 2]),
        ("rule_name", ["r"]),
        ("user_id", [7]),
        ("user_name", ["u"]),
    ]:
        assert await _ids(client, **{name: value}) == [], name


def test_filter_serialisation() -> None:
    flt = SipRegistrationFilter(
        successful=True,
        deactivated=False,
        rule_id=(1, 2),
        proxy=("a.example", "b.example"),
        status_code="401;403:404",
    )
    assert flt.to_params() == {
        "successful": "true",
        "deactivated": "false",
        "rule_id": "1;2",
        "proxy": "a.example;b.example",
        "status_code": "401;403:404",
    }


@pytest.mark.parametrize(
    "bad",
    [
        {"status_code": "20x"},
        {"proxy": ["a;b"]},
        {"rule_id": [1], "rule_name": ["r"]},
        {"unknown": 1},
        {"user_id": []},
    ],
)
def test_bad_filters_fail_before_a_request(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        SipRegistrationFilter.model_validate(bad)


@pytest.mark.parametrize(
    ("code", "error_class"),
    [
        (101, PermanentError),
        (103, PermanentError),
        (104, AuthorizationError),
        (275, RegistrationNotFound),
        (340, RateLimited),
        (433, AuthorizationError),
        (447, AuthorizationError),
        (454, AuthorizationError),
        (999, PermanentError),
    ],
)
async def test_error_codes_map_onto_the_tree(
    client: VoximplantClient,
    account: SandboxAccount,
    code: int,
    error_class: type[Exception],
) -> None:
    account.faults.api_error(code, f"injected {code}")
    with pytest.raises(error_class) as info:
        _ = [r async for r in client.iter_sip_registrations()]
    assert type(info.value) is error_class
    assert info.value.code == f"VOXIMPLANT_{code}"  # type: ignore[attr-defined]
    assert client.requests_made == 1  # not retried by the client
    assert client.signatures == 1


@pytest.mark.parametrize("code", [100, 455, 456])
async def test_token_refusals_re_sign_and_retry_once(
    client: VoximplantClient, account: SandboxAccount, store: RegistrationStore, code: int
) -> None:
    make_lines(store, 3)
    account.faults.api_error(code)
    assert len([r async for r in client.iter_sip_registrations()]) == 3
    assert client.signatures == 2
    assert client.requests_made == 2


@pytest.mark.parametrize("code", [100, 455, 456])
async def test_a_second_refusal_is_an_authorization_error(
    client: VoximplantClient, account: SandboxAccount, code: int
) -> None:
    account.faults.api_error(code, times=2)
    with pytest.raises(AuthorizationError) as info:
        await client.get_sip_registration(1)
    assert info.value.code == f"VOXIMPLANT_{code}"
    assert client.requests_made == 2
    assert client.signatures == 2


async def test_http_401_re_signs_and_retries_once(
    client: VoximplantClient, account: SandboxAccount, store: RegistrationStore
) -> None:
    (reg_id,) = make_lines(store, 1)
    account.faults.http_status(401)
    assert await client.get_sip_registration(reg_id) is not None
    assert client.signatures == 2
    account.faults.http_status(401, times=2)
    with pytest.raises(AuthorizationError):
        await client.get_sip_registration(reg_id)


async def test_a_real_refusal_from_the_verifier_is_retried(
    session: aiohttp.ClientSession,
    account: SandboxAccount,
    credentials: ServiceAccountCredentials,
    store: RegistrationStore,
    clock: FakeClock,
) -> None:
    """A client whose clock runs ahead gets 455 from the sandbox, then a clean failure."""
    (reg_id,) = make_lines(store, 1)
    ahead = FakeClock(clock.now + 120)
    client = VoximplantClient(
        session=session,
        tokens=TokenCache(credentials=credentials, clock=ahead),
        api_url=account.api_url,
    )
    with pytest.raises(AuthorizationError) as info:
        await client.get_sip_registration(reg_id)
    assert info.value.code == "VOXIMPLANT_455"
    assert client.signatures == 2
    ahead.now = clock.now  # the operator fixed the clock
    assert await client.get_sip_registration(reg_id) is not None


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_5xx_is_upstream_unavailable(
    client: VoximplantClient, account: SandboxAccount, status: int
) -> None:
    account.faults.http_status(status)
    with pytest.raises(UpstreamUnavailable) as info:
        await client.get_sip_registration(1)
    assert info.value.code == f"VOXIMPLANT_HTTP_{status}"


async def test_429_is_rate_limited_with_its_hint(
    client: VoximplantClient, account: SandboxAccount
) -> None:
    account.faults.http_status(429, retry_after=7)
    with pytest.raises(RateLimited) as info:
        await client.get_sip_registration(1)
    assert info.value.retry_after == 7.0


async def test_html_and_dropped_connections_are_transient(
    client: VoximplantClient, account: SandboxAccount, store: RegistrationStore
) -> None:
    (reg_id,) = make_lines(store, 1)
    account.faults.html()
    with pytest.raises(UpstreamUnavailable):
        await client.get_sip_registration(reg_id)
    account.faults.drop()
    with pytest.raises(UpstreamUnavailable) as info:
        await client.get_sip_registration(reg_id)
    assert info.value.code == "VOXIMPLANT_CONNECTION"
    assert await client.get_sip_registration(reg_id) is not None  # and it recovers


async def test_a_slow_account_times_out(
    session: aiohttp.ClientSession, account: SandboxAccount, tokens: TokenCache
) -> None:
    client = VoximplantClient(
        session=session, tokens=tokens, api_url=account.api_url, total_timeout=0.2
    )
    account.faults.latency = 0.5
    with pytest.raises(TransientError) as info:
        await client.get_sip_registration(1)
    assert info.value.code == "VOXIMPLANT_TIMEOUT"


async def test_an_unreachable_account_is_transient(
    session: aiohttp.ClientSession, tokens: TokenCache
) -> None:
    client = VoximplantClient(
        session=session, tokens=tokens, api_url="http://127.0.0.1:9/platform_api/"
    )
    with pytest.raises(UpstreamUnavailable):
        await client.get_sip_registration(1)


async def test_invalid_registration_id_reads_as_absent(
    client: VoximplantClient, account: SandboxAccount
) -> None:
    account.faults.api_error(275, "Invalid registration id")
    assert await client.get_sip_registration(5) is None


@pytest.mark.parametrize("page_size", [0, 1001])
async def test_page_size_is_bounded(client: VoximplantClient, page_size: int) -> None:
    with pytest.raises(ValueError):
        await anext(client.iter_sip_registrations(page_size=page_size))
    assert client.requests_made == 0
