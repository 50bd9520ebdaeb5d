"""The portal installs the application against a receiver, as Bitrix24 posts it."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import aiohttp

from tests.sandbox.conftest import ManyPortals, Receiver

INSTALL_AUTH = {
    "access_token",
    "expires",
    "expires_in",
    "scope",
    "domain",
    "server_endpoint",
    "status",
    "client_endpoint",
    "member_id",
    "user_id",
    "refresh_token",
    "application_token",
}


def _form(raw: bytes) -> dict[str, str]:
    return dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))


async def _admin(
    session: aiohttp.ClientSession, url: str, body: dict[str, Any]
) -> tuple[int, dict[str, Any]]:
    async with session.post(url, json=body) as response:
        return response.status, await response.json()


async def test_install_posts_the_documented_form_with_tokens_the_portal_honours(
    many: ManyPortals, tmp_path: Path, session: aiohttp.ClientSession, receiver: Receiver
) -> None:
    async with many(2, directory=tmp_path) as sandbox:
        portal = sandbox.portals[1]
        status, delivery = await _admin(
            session, portal.admin_url + "install", {"url": receiver.url, "version": "3"}
        )
        assert status == 200
        assert delivery["status"] == 200
        assert delivery["accepted"] is True
        assert "access_token" not in str(delivery)
        (request,) = receiver.requests
        assert request["content_type"] == "application/x-www-form-urlencoded"
        form = _form(request["raw"])
        assert form["event"] == "ONAPPINSTALL"
        assert {k: form[f"data[{k}]"] for k in ("VERSION", "ACTIVE", "INSTALLED")} == {
            "VERSION": "3",
            "ACTIVE": "Y",
            "INSTALLED": "Y",
        }
        auth = {k[5:-1]: v for k, v in form.items() if k.startswith("auth[")}
        assert set(auth) == INSTALL_AUTH
        assert auth["domain"] == portal.domain
        assert auth["client_endpoint"] == portal.rest_url
        assert auth["status"] == "L"
        assert int(auth["expires_in"]) == 3600
        assert form["ts"].isdigit()
        # the tokens work: a REST call, then a refresh through the server endpoint's host
        async with session.post(
            auth["client_endpoint"] + "scope", json={"auth": auth["access_token"]}
        ) as response:
            assert response.status == 200
        token_url = auth["server_endpoint"].removesuffix("rest/") + "oauth/token/"
        params = {
            "grant_type": "refresh_token",
            "client_id": portal.options.oauth_client_id,
            "client_secret": portal.options.oauth_client_secret,
            "refresh_token": auth["refresh_token"],
        }
        async with session.get(token_url, params=params) as response:
            assert response.status == 200
            assert (await response.json())["domain"] == portal.domain

        # uninstall: the install's application token, no tokens, and the tokens stop working
        status, delivery = await _admin(
            session, portal.admin_url + "uninstall", {"url": receiver.url, "clean": True}
        )
        assert (status, delivery["event"]) == (200, "ONAPPUNINSTALL")
        form = _form(receiver.requests[1]["raw"])
        assert form["event"] == "ONAPPUNINSTALL"
        assert form["data[CLEAN]"] == "1"
        gone = {k[5:-1] for k in form if k.startswith("auth[")}
        assert gone == {
            "domain",
            "server_endpoint",
            "client_endpoint",
            "member_id",
            "application_token",
        }
        assert form["auth[application_token]"] == auth["application_token"]
        assert form["auth[member_id]"] == auth["member_id"]
        async with session.post(
            auth["client_endpoint"] + "scope", json={"auth": auth["access_token"]}
        ) as response:
            assert (response.status, (await response.json())["error"]) == (401, "invalid_token")
        counters = sandbox.portal_counters()["portals"][portal.domain]
        assert (counters["installs"], counters["uninstalls"]) == (1, 1)
        # a second uninstall has nothing to uninstall
        status, body = await _admin(session, portal.admin_url + "uninstall", {"url": receiver.url})
        assert (status, body["error"]) == (409, "APP_NOT_INSTALLED")


async def test_a_refusing_or_absent_receiver_is_reported(
    many: ManyPortals, tmp_path: Path, session: aiohttp.ClientSession, receiver: Receiver
) -> None:
    receiver.statuses = [403]
    async with many(1, directory=tmp_path) as sandbox:
        portal = sandbox.portals[0]
        status, delivery = await _admin(
            session, portal.admin_url + "install", {"url": receiver.url}
        )
        assert (status, delivery["status"], delivery["accepted"]) == (200, 403, False)
        url = receiver.url
        await receiver.server.close()
        status, body = await _admin(session, portal.admin_url + "install", {"url": url})
        assert (status, body["error"]) == (502, "INSTALL_CALLBACK_UNREACHABLE")
        assert "token" not in body["error_description"]
        status, body = await _admin(session, portal.admin_url + "install", {"url": "ftp://x"})
        assert status == 400
