"""Short-lived access tokens and single-use refresh tokens, counted as Bitrix24 would answer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp

from tests.sandbox.conftest import ManyPortals, eventually


async def _call(session: aiohttp.ClientSession, url: str, **params: Any) -> tuple[int, Any]:
    async with session.post(url, json=params) as response:
        return response.status, await response.json()


async def _refresh(
    session: aiohttp.ClientSession, token_url: str, entry: dict[str, Any], refresh_token: str
) -> tuple[int, Any]:
    params = {
        "grant_type": "refresh_token",
        "client_id": entry["client_id"],
        "client_secret": entry["client_secret"],
        "refresh_token": refresh_token,
    }
    async with session.get(token_url, params=params) as response:
        return response.status, await response.json()


async def test_tokens_expire_after_the_ttl_and_refresh_tokens_are_single_use(
    many: ManyPortals, tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    async with many(2, directory=tmp_path, auth="oauth", token_ttl=0.3) as sandbox:
        portal = sandbox.portals[1]
        entry = portal.portal_settings(auth="oauth")["oauth"]
        rest = entry["rest_url"]
        status, _ = await _call(session, rest + "scope", auth=entry["access_token"])
        assert status == 200

        async def expired() -> bool:
            status, body = await _call(session, rest + "scope", auth=entry["access_token"])
            return status == 401 and body["error"] == "expired_token"

        await eventually(expired, within=3.0, every=0.1)
        # the shared token endpoint finds the portal by the refresh token
        assert entry["server_url"] == sandbox.portals[0].token_url
        status, fresh = await _refresh(session, entry["server_url"], entry, entry["refresh_token"])
        assert status == 200
        assert fresh["domain"] == portal.domain
        assert fresh["expires_in"] == 0  # int(0.3)
        status, _ = await _call(session, rest + "scope", auth=fresh["access_token"])
        assert status == 200
        status, again = await _refresh(session, entry["server_url"], entry, entry["refresh_token"])
        assert (status, again["error"]) == (400, "invalid_grant")
        counters = sandbox.portal_counters()
        oauth = counters["portals"][portal.domain]["oauth"]
        assert oauth["refreshes"] == 1
        assert (oauth["expiries"], oauth["early_refreshes"]) == (1, 0)  # refreshed once expired
        assert oauth["invalid_grant"] == 1
        assert oauth["expired_token"] >= 1
        assert counters["portals"][sandbox.portals[0].domain]["oauth"]["refreshes"] == 0
        assert counters["totals"]["oauth"]["invalid_grant"] == 1


async def test_a_refresh_before_the_token_was_seen_expired_is_counted_early(
    many: ManyPortals, tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    async with many(1, directory=tmp_path, auth="oauth", token_ttl=60) as sandbox:
        (portal,) = sandbox.portals
        entry = portal.portal_settings(auth="oauth")["oauth"]
        # refreshed while its access token lives, then the new pair used past its end
        answers = [await _refresh(session, entry["server_url"], entry, entry["refresh_token"])]
        portal.expire_access_tokens()
        fresh = answers[0][1]
        answers.append(
            await _call(session, entry["rest_url"] + "scope", auth=fresh["access_token"])
        )
        answers.append(await _refresh(session, entry["server_url"], entry, fresh["refresh_token"]))
        assert [status for status, _ in answers] == [200, 401, 200]
        oauth = sandbox.portal_counters()["portals"][portal.domain]["oauth"]
        # refreshes == expiries + early_refreshes: the first pair was refreshed while live
        assert (oauth["refreshes"], oauth["expiries"], oauth["early_refreshes"]) == (2, 1, 1)
        assert sandbox.portal_counters()["totals"]["oauth"]["early_refreshes"] == 1


async def test_an_unknown_refresh_token_is_invalid_grant(
    many: ManyPortals, tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    async with many(1, directory=tmp_path, auth="oauth") as sandbox:
        entry = sandbox.portals[0].portal_settings(auth="oauth")["oauth"]
        status, body = await _refresh(session, entry["server_url"], entry, "never-issued")
        assert (status, body["error"]) == (400, "invalid_grant")
        status, body = await _call(session, entry["rest_url"] + "scope", auth="never-issued")
        assert (status, body["error"]) == (401, "invalid_token")
        oauth = sandbox.portal_counters()["portals"][sandbox.portals[0].domain]["oauth"]
        assert oauth["invalid_token"] == 1
