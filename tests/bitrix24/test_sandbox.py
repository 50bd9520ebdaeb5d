"""The sandbox portal over raw HTTP: what any Bitrix24 client would see."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp

from tests.bitrix24.conftest import DOMAIN, GOOD, eventually
from worker.sandbox.portal import PortalOptions, SandboxPortal, dotenv_lines
from worker.sandbox.registrations import RegistrationStore
from worker.settings import Settings

CREDS = {k.upper(): v for k, v in GOOD.items()}


async def _post(
    session: aiohttp.ClientSession, url: str, **kwargs: Any
) -> tuple[int, dict[str, Any]]:
    async with session.post(url, **kwargs) as resp:
        return resp.status, await resp.json()


async def test_json_and_form_bodies_with_any_key_case(
    session: aiohttp.ClientSession, portal: SandboxPortal
) -> None:
    base = portal.webhook_url
    status, body = await _post(
        session, base + "voximplant.sip.add.json", json={"title": "A", **CREDS}
    )
    assert status == 200
    assert body["result"]["CONFIG_ID"] > 0
    assert {"start", "finish", "duration", "processing", "operating_reset_at"} <= set(body["time"])
    form = {"TiTlE": "B", "server": GOOD["server"], "Login": "2", "password": "p"}
    status, body = await _post(session, base + "voximplant.sip.add", data=form)
    assert status == 200
    assert body["result"]["TITLE"] == "B"
    status, body = await _post(
        session, base + "voximplant.sip.get", data={"FILTER[TITLE]": "B", "order": "DESC"}
    )
    assert body["total"] == 1
    assert body["result"][0]["CONFIG_ID"].isdigit()
    assert "next" not in body


async def test_documented_error_statuses(
    session: aiohttp.ClientSession, portal: SandboxPortal
) -> None:
    base = portal.webhook_url
    cases = [
        ("voximplant.sip.update", {"CONFIG_ID": 5, "TITLE": "x"}, 404, "ERROR_NOT_FOUND"),
        ("voximplant.sip.delete", {"CONFIG_ID": 5}, 400, "ERROR_NOT_FOUND"),
        ("voximplant.sip.add", {"TITLE": "x"}, 400, "CHECK_FIELDS_ERROR"),
        ("voximplant.sip.status", {"REG_ID": 1}, 400, "REG_ID_NOT_FOUND"),
        ("no.such.method", {}, 404, "ERROR_METHOD_NOT_FOUND"),
    ]
    for method, params, status, code in cases:
        got_status, body = await _post(session, base + method, json=params)
        assert (got_status, body["error"]) == (status, code), method
    status, body = await _post(session, f"{portal.base_url}/rest/scope", json={})
    assert (status, body["error"]) == (401, "NO_AUTH_FOUND")


async def test_update_without_changes(
    session: aiohttp.ClientSession, portal: SandboxPortal
) -> None:
    _, added = await _post(session, portal.webhook_url + "voximplant.sip.add", json=CREDS)
    config_id = added["result"]["CONFIG_ID"]
    status, body = await _post(
        session, portal.webhook_url + "voximplant.sip.update", json={"CONFIG_ID": config_id}
    )
    assert (status, body["error"]) == (400, "CHECK_FIELDS_ERROR")


async def test_batch_rules(session: aiohttp.ClientSession, portal: SandboxPortal) -> None:
    url = portal.webhook_url + "batch"
    too_many = {"cmd": {f"k{n}": "scope" for n in range(51)}}
    status, body = await _post(session, url, json=too_many)
    assert (status, body["error"]) == (400, "ERROR_BATCH_LENGTH_EXCEEDED")
    numeric = {"halt": 0, "cmd": {"0": "scope", "1": "scope"}}
    _, body = await _post(session, url, json=numeric)
    assert body["result"]["result"] == [["telephony"], ["telephony"]]
    assert body["result"]["result_error"] == []
    query = "voximplant.sip.add?" + "&".join(f"{k}={v}" for k, v in CREDS.items())
    chained = {
        "cmd": {
            "add": query + "&TITLE=chained",
            "get": "voximplant.sip.get?FILTER[CONFIG_ID]=$result[add][CONFIG_ID]",
        }
    }
    _, body = await _post(session, url, json=chained)
    assert body["result"]["result"]["get"][0]["TITLE"] == "chained"
    assert body["result"]["result_total"] == {"get": 1}
    assert portal.counters.batch_commands == 4


async def test_admin_endpoints(session: aiohttp.ClientSession, portal: SandboxPortal) -> None:
    admin = portal.base_url + "/_sandbox"
    status, faults = await _post(session, admin + "/faults", json={"html": 1, "latency": 0.01})
    assert status == 200
    assert faults["html"] == 1.0
    async with session.post(portal.webhook_url + "scope", json={}) as resp:
        assert resp.content_type == "text/html"
    status, _ = await _post(session, admin + "/faults", json={"nonsense": 1})
    assert status == 400
    await _post(session, admin + "/faults", json={"html": 0})
    await _post(session, admin + "/bucket", json={"capacity": 1, "drain_per_second": 0.01})
    await _post(session, portal.webhook_url + "scope", json={})
    status, body = await _post(session, portal.webhook_url + "scope", json={})
    assert (status, body["error"]) == (503, "QUERY_LIMIT_EXCEEDED")
    async with session.get(admin + "/counters") as resp:
        counters = await resp.json()
    assert counters["requests"] == 3
    assert counters["by_method"] == {"scope": 3}
    assert counters["injected"] == {"html": 1}
    assert counters["query_limit_rejections"] == 1


async def test_oauth_token_endpoint(session: aiohttp.ClientSession, portal: SandboxPortal) -> None:
    pair = portal.grant_tokens()
    status, body = await _post(session, portal.rest_url + "scope", json={"auth": pair.access_token})
    assert status == 200
    portal.expire_access_tokens()
    status, body = await _post(session, portal.rest_url + "scope", data={"auth": pair.access_token})
    assert (status, body["error"]) == (401, "expired_token")
    params = {
        "grant_type": "refresh_token",
        "client_id": portal.options.oauth_client_id,
        "client_secret": portal.options.oauth_client_secret,
        "refresh_token": pair.refresh_token,
    }
    async with session.get(portal.token_url, params=params) as resp:
        fresh = await resp.json()
    assert fresh["access_token"] != pair.access_token
    assert fresh["expires_in"] > 0
    async with session.get(portal.token_url, params=params) as resp:
        assert (resp.status, (await resp.json())["error"]) == (400, "invalid_grant")


async def test_access_tokens_expire_by_time(
    session: aiohttp.ClientSession, registrations: RegistrationStore
) -> None:
    options = PortalOptions(access_token_ttl=0.05)
    async with SandboxPortal(registrations=registrations, options=options) as portal:
        pair = portal.grant_tokens()
        url = portal.rest_url + "scope"

        async def expired() -> bool:
            status, _ = await _post(session, url, json={"auth": pair.access_token})
            return status == 401

        await eventually(expired)


async def test_two_portals_and_their_dotenv(registrations: RegistrationStore) -> None:
    first = SandboxPortal(registrations=registrations, options=PortalOptions(domain="a.test"))
    second = SandboxPortal(
        registrations=registrations, options=PortalOptions.enterprise(domain="b.test")
    )
    async with first, second:
        assert first.base_url != second.base_url
        lines = dotenv_lines([first, second], auth="oauth")
        assert lines[1].startswith("SIPLINE_PORTALS='")
        raw = lines[1].split("=", 1)[1].strip("'")
        settings = Settings(portals=json.loads(raw))
        assert set(settings.portals) == {"a.test", "b.test"}
        assert settings.portals["b.test"].bucket() == (250, 5.0)
        hooks = Settings(portals=json.loads(dotenv_lines([first])[1].split("=", 1)[1].strip("'")))
        assert hooks.portals["a.test"].webhook_url is not None
    assert DOMAIN  # the default test portal is not involved


async def test_env_file_round_trip(registrations: RegistrationStore, tmp_path: Path) -> None:
    async with SandboxPortal(
        registrations=registrations, options=PortalOptions(domain="c.test")
    ) as p:
        env = tmp_path / "sandbox.env"
        env.write_text("\n".join(dotenv_lines([p], token_store=tmp_path / "t.json")) + "\n")
        settings = Settings(_env_file=env)  # type: ignore[call-arg]
        assert settings.portals["c.test"].webhook_url is not None
        assert settings.bitrix24_token_store == tmp_path / "t.json"
