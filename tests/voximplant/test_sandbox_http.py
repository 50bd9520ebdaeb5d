"""The sandbox account over raw HTTP: both request forms, admin routes, counters, dotenv."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.voximplant.conftest import make_lines
from worker.adapters.voximplant import TokenCache, VoximplantClient, load_credentials
from worker.errors import UpstreamUnavailable
from worker.sandbox.registrations import RegistrationStore
from worker.sandbox.voximplant import SandboxAccount, admin, dotenv_lines
from worker.settings import Settings


def _auth(tokens: TokenCache) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens.get()}"}


async def _json(response: aiohttp.ClientResponse) -> Any:
    assert response.status == 200
    return await response.json()


@pytest.mark.parametrize(
    ("path", "extra"),
    [
        ("GetSipRegistrations", {}),
        ("GetSipRegistrations/", {}),
        ("", {"cmd": "GetSipRegistrations"}),
    ],
)
@pytest.mark.parametrize("how", ["form", "query"])
async def test_both_request_forms_with_form_or_query(
    session: aiohttp.ClientSession,
    account: SandboxAccount,
    store: RegistrationStore,
    tokens: TokenCache,
    path: str,
    extra: dict[str, str],
    how: str,
) -> None:
    ids = make_lines(store, 3)
    account.diverge(ids[1], deactivated=True)
    params = {**extra, "deactivated": "TRUE", "count": "10"}
    url = account.api_url + path
    if how == "form":
        request = session.post(url, data=params, headers=_auth(tokens))
    else:
        request = session.get(url, params=params, headers=_auth(tokens))
    async with request as response:
        body = await _json(response)
    assert [r["sip_registration_id"] for r in body["result"]] == [ids[1]]
    assert body["count"] == 1


async def test_unknown_command_and_bad_arguments(
    session: aiohttp.ClientSession, account: SandboxAccount, tokens: TokenCache
) -> None:
    async with session.post(
        account.api_url.rstrip("/"), data={"cmd": "GetNothing"}, headers=_auth(tokens)
    ) as response:
        assert (await _json(response))["error"]["code"] == 103
    for bad in ({"successful": "yes"}, {"count": "-1"}, {"status_code": "2x0"}):
        async with session.post(
            account.api_url + "GetSipRegistrations", data=bad, headers=_auth(tokens)
        ) as response:
            assert (await _json(response))["error"]["code"] == 101, bad


async def test_no_token_is_refused_with_http_200(
    session: aiohttp.ClientSession, account: SandboxAccount
) -> None:
    async with session.post(account.api_url + "GetSipRegistrations") as response:
        body = await _json(response)
    assert body["error"] == {"msg": "Authorization failed", "code": 100}


async def test_page_size_is_capped_and_defaulted(
    session: aiohttp.ClientSession,
    store: RegistrationStore,
    tmp_path: Path,
    rsa_key: rsa.RSAPrivateKey,
) -> None:
    make_lines(store, 30)
    account = SandboxAccount(
        store=store,
        directory=tmp_path / "small",
        private_key=rsa_key,
        default_page_size=5,
        max_page_size=10,
    )
    await account.start()
    try:
        tokens = TokenCache(credentials=load_credentials(account.credentials_path))
        url = account.api_url + "GetSipRegistrations"
        async with session.post(url, headers=_auth(tokens)) as response:
            assert len((await _json(response))["result"]) == 5
        async with session.post(url, data={"count": "50"}, headers=_auth(tokens)) as response:
            assert len((await _json(response))["result"]) == 10
        async with session.post(
            url, data={"count": "10", "offset": "25"}, headers=_auth(tokens)
        ) as response:
            assert len((await _json(response))["result"]) == 5
    finally:
        await account.stop()


async def test_divergence_from_python_and_over_http(
    session: aiohttp.ClientSession,
    account: SandboxAccount,
    client: VoximplantClient,
    store: RegistrationStore,
) -> None:
    a, b, c = make_lines(store, 3)
    account.diverge(a, proxy="elsewhere.example", sip_username="mallory")
    admin = account.admin_url
    async with session.post(
        f"{admin}registrations/{b}/diverge",
        json={"successful": False, "status_code": 503, "error_message": "Service Unavailable"},
    ) as response:
        assert response.status == 200
    async with session.post(f"{admin}registrations/{c}/diverge", json={"deleted": True}):
        pass
    got_a = await client.get_sip_registration(a)
    assert got_a is not None
    assert (got_a.proxy, got_a.sip_username) == ("elsewhere.example", "mallory")
    got_b = await client.get_sip_registration(b)
    assert got_b is not None
    assert (got_b.successful, got_b.status_code, got_b.error_message) == (
        False,
        503,
        "Service Unavailable",
    )
    assert await client.get_sip_registration(c) is None
    async with session.delete(f"{admin}registrations/{c}/diverge") as response:
        assert response.status == 200
    assert await client.get_sip_registration(c) is not None


@pytest.mark.parametrize(
    "body",
    [{"colour": "red"}, {"successful": "no"}, {"status_code": True}, {"deleted": None}, [], {}],
)
async def test_bad_divergence_requests_are_refused(
    session: aiohttp.ClientSession, account: SandboxAccount, store: RegistrationStore, body: Any
) -> None:
    (reg_id,) = make_lines(store, 1)
    url = f"{account.admin_url}registrations/{reg_id}/diverge"
    async with session.post(url, json=body) as response:
        assert response.status == 400
    async with session.post(f"{account.admin_url}registrations/424242/diverge", json={}) as r:
        assert r.status == 404


async def test_faults_over_http_and_counters(
    session: aiohttp.ClientSession, account: SandboxAccount, client: VoximplantClient
) -> None:
    admin = account.admin_url
    async with session.post(
        f"{admin}faults", json={"kind": "api_error", "code": 340, "times": 2}
    ) as response:
        assert response.status == 200
    async with session.post(f"{admin}faults", json={"kind": "teleport"}) as response:
        assert response.status == 400
    for _ in range(2):
        with pytest.raises(Exception, match="code 340"):
            await client.get_sip_registration(1)
    assert await client.get_sip_registration(1) is None
    async with session.post(f"{admin}faults", json={"kind": "status", "times": None}) as r:
        assert r.status == 200
    with pytest.raises(Exception, match="HTTP 500"):
        await client.get_sip_registration(1)
    async with session.delete(f"{admin}faults") as response:
        assert response.status == 200
    assert await client.get_sip_registration(1) is None
    async with session.get(f"{admin}stats") as response:
        stats = await response.json()
    assert {k: stats[k] for k in ("requests", "signatures_verified", "faults_served")} == {
        "requests": 5,
        "signatures_verified": 2,
        "faults_served": 3,
    }
    assert stats["callbacks_made"] == 0
    assert account.requests == 5


async def test_dotenv_lines_configure_the_settings(account: SandboxAccount, tmp_path: Path) -> None:
    lines = account.dotenv_lines()
    assert lines == [
        f"VOXIMPLANT_CREDENTIALS={account.credentials_path}",
        f"SIPLINE_VOXIMPLANT_API_URL={account.api_url}",
    ]
    env = tmp_path / "sandbox.env"
    env.write_text("\n".join(lines) + "\n")
    settings = Settings(_env_file=env)  # type: ignore[call-arg]
    assert settings.voximplant_credentials == account.credentials_path
    assert str(settings.voximplant_api_url) == account.api_url


def test_dotenv_quotes_awkward_paths() -> None:
    lines = dotenv_lines(Path("/tmp/with space/credentials.json"), "http://127.0.0.1:1/x/")
    assert lines[0] == 'VOXIMPLANT_CREDENTIALS="/tmp/with space/credentials.json"'


async def test_admin_helpers_drive_a_running_account(
    session: aiohttp.ClientSession,
    account: SandboxAccount,
    client: VoximplantClient,
    store: RegistrationStore,
) -> None:
    (reg_id,) = make_lines(store, 1)
    await admin.diverge(session, account.admin_url, reg_id, deactivated=True, proxy="p.example")
    got = await client.get_sip_registration(reg_id)
    assert got is not None
    assert (got.deactivated, got.proxy) == (True, "p.example")
    await admin.converge(session, account.admin_url, reg_id)
    got = await client.get_sip_registration(reg_id)
    assert got is not None
    assert (got.deactivated, got.proxy) == (False, "sip.sandbox.test")
    await admin.inject_fault(session, account.admin_url, kind="status", status=503)
    with pytest.raises(UpstreamUnavailable):
        await client.get_sip_registration(reg_id)
    await admin.inject_fault(session, account.admin_url, kind="html", times=None)
    await admin.clear_faults(session, account.admin_url)
    assert await client.get_sip_registration(reg_id) is not None
    assert (await admin.stats(session, account.admin_url))["faults_served"] == 1
    with pytest.raises(admin.AdminError, match="HTTP 404"):
        await admin.diverge(session, account.admin_url, 1, deleted=True)
