"""A canary password, webhook code and tokens never reach a log line or an exception text."""

from __future__ import annotations

import logging
import traceback
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from tests.bitrix24.conftest import (
    CANARY_CODE,
    CANARY_PASSWORD,
    DOMAIN,
    SettingsFactory,
    client_for,
)
from worker.adapters.bitrix24 import BatchCall, Bitrix24Client, mask_url
from worker.errors import SiplineError
from worker.sandbox.portal import SandboxPortal


def _texts(exc: BaseException) -> str:
    """Everything a traceback of the error would print, causes included."""
    return "".join(traceback.format_exception(exc)) + repr(exc)


async def _collect(client: Bitrix24Client, portal: SandboxPortal) -> list[str]:
    texts: list[str] = []
    line = await client.sip_add(
        title="canary", server="sip.sandbox.test", login="1", password=CANARY_PASSWORD
    )
    lines = await client.sip_get()
    outcomes = await client.batch([BatchCall("voximplant.sip.get"), BatchCall("nope")])
    texts += [repr(line), str(line), repr(lines), repr(outcomes), line.model_dump_json()]
    attempts: list[Any] = [
        lambda: client.sip_add(title="canary", server="s", login="1", password=CANARY_PASSWORD),
        lambda: client.sip_update(line.config_id, login="x" * 101, password=CANARY_PASSWORD),
        lambda: client.sip_update(999, password=CANARY_PASSWORD),
    ]
    for fault in ("drop", "html", "error_500", "query_limit"):
        attempts.append(lambda fault=fault: _with_fault(client, portal, fault))
    for attempt in attempts:
        try:
            await attempt()
        except SiplineError as exc:
            texts.append(_texts(exc))
    return texts


async def _with_fault(client: Bitrix24Client, portal: SandboxPortal, fault: str) -> None:
    portal.set_faults(**{fault: 1.0})
    try:
        await client.sip_update(1, password=CANARY_PASSWORD)
    finally:
        portal.set_faults(**{fault: 0.0})


async def test_webhook_canaries(
    client: Bitrix24Client, portal: SandboxPortal, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    texts = await _collect(client, portal)
    assert len(texts) > 8
    logged = [record.getMessage() for record in caplog.records]
    assert any("/rest/1/***/" in message for message in logged)  # URLs are logged, masked
    for text in [*texts, *logged]:
        assert CANARY_PASSWORD not in text
        assert CANARY_CODE not in text


async def test_oauth_canaries(
    session: aiohttp.ClientSession,
    make_settings: SettingsFactory,
    portal: SandboxPortal,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    settings = make_settings("oauth")
    oauth = settings.portals[DOMAIN].oauth
    assert oauth is not None
    secrets = [
        oauth.client_secret.get_secret_value(),
        oauth.access_token.get_secret_value(),
        oauth.refresh_token.get_secret_value(),
    ]
    client = client_for(session, settings)
    portal.expire_access_tokens()
    texts = await _collect(client, portal)
    texts.append(repr(settings))
    for text in [*texts, *(record.getMessage() for record in caplog.records)]:
        assert CANARY_PASSWORD not in text
        for secret in secrets:
            assert secret not in text


@pytest.fixture
async def echo_portal() -> AsyncIterator[str]:
    """A portal that echoes parameters into its error text, as a careless one might."""

    async def echo(request: web.Request) -> web.Response:
        params = await request.json()
        body = {"error": "CHECK_FIELDS_ERROR", "error_description": f"bad: {params}"}
        return web.json_response(body, status=400)

    app = web.Application()
    app.router.add_post("/rest/{user}/{code}/{method}", echo)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    yield f"http://{host}:{port}/rest/1/{CANARY_CODE}/"
    await runner.cleanup()


async def test_echoed_secrets_are_scrubbed(
    session: aiohttp.ClientSession, make_settings: SettingsFactory, echo_portal: str
) -> None:
    settings = make_settings(portal={"webhook_url": echo_portal})
    client = client_for(session, settings)
    with pytest.raises(SiplineError) as caught:
        await client.sip_add(title="t", server="s", login="l", password=CANARY_PASSWORD)
    assert "bad:" in str(caught.value)
    assert CANARY_PASSWORD not in _texts(caught.value)
    with pytest.raises(SiplineError) as caught:
        await client.batch([BatchCall("voximplant.sip.add", {"PASSWORD": CANARY_PASSWORD})])
    assert CANARY_PASSWORD not in _texts(caught.value)


def test_mask_url() -> None:
    assert (
        mask_url(f"https://p.bitrix24.ru/rest/1/{CANARY_CODE}/voximplant.sip.get.json?auth=x")
        == "https://p.bitrix24.ru/rest/1/***/voximplant.sip.get.json"
    )
    assert (
        mask_url(f"http://127.0.0.1:8080/rest/7/{CANARY_CODE}/")
        == "http://127.0.0.1:8080/rest/7/***/"
    )
