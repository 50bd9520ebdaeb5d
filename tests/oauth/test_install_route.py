"""``POST /bitrix24/install`` on a real HTTP server over a real store (both backends): what
Bitrix24 sends registers, updates and disables a portal; everything else is a 4xx that
changes nothing and never echoes a token."""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any

import aiohttp
import pytest
from pydantic import AnyHttpUrl, SecretStr, ValidationError

from worker.adapters.store import SqlStore
from worker.http import http_server
from worker.http.install import MAX_BODY_BYTES, PATH, InstallRoutes
from worker.settings import OAuthApp, PortalSettings, Settings
from worker.store import PortalRecord
from worker.store.installs import Application

DOMAIN = "shop.bitrix24.test"
APP = Application(
    client_id="app.sipline",
    client_secret=SecretStr("app-secret"),
    oauth_server_url="https://oauth.bitrix24.tech/oauth/token/",
    rest_url="https://{domain}/rest/",
)
CANARY = "CANARY0ACCESS0TOKEN0e3b0c44298fc1c149afbf4c8996fb92427ae41e4649"


def install_form(
    *,
    domain: str = DOMAIN,
    member_id: str = "a1b2c3d4e5f6",
    application_token: str = "apptoken0001",
    access_token: str = "access0001",
    refresh_token: str = "refresh0001",
    event: str = "ONAPPINSTALL",
) -> dict[str, str]:
    """The fields Bitrix24 posts to an installation callback (PHP brackets)."""
    return {
        "event": event,
        "data[VERSION]": "1",
        "data[ACTIVE]": "Y",
        "data[INSTALLED]": "Y",
        "data[LANGUAGE_ID]": "en",
        "ts": "1764480000",
        "auth[access_token]": access_token,
        "auth[expires]": "1764483600",
        "auth[expires_in]": "3600",
        "auth[scope]": "telephony",
        "auth[domain]": domain,
        "auth[server_endpoint]": "https://oauth.bitrix.info/rest/",
        "auth[status]": "L",
        "auth[client_endpoint]": f"https://{domain}/rest/",
        "auth[member_id]": member_id,
        "auth[user_id]": "1",
        "auth[refresh_token]": refresh_token,
        "auth[application_token]": application_token,
    }


def uninstall_form(
    *, application_token: str = "apptoken0001", event: str = "ONAPPUNINSTALL", **kw: str
) -> dict[str, str]:
    form = install_form(application_token=application_token, event=event, **kw)
    for name in ("access_token", "refresh_token", "expires", "expires_in", "scope", "user_id"):
        del form[f"auth[{name}]"]
    return {**form, "data[CLEAN]": "0"}


def as_json(form: dict[str, str]) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for key, value in form.items():
        if "[" in key:
            group, sub = key[:-1].split("[")
            body.setdefault(group, {})[sub] = value
        else:
            body[key] = value
    return body


@dataclass
class Receiver:
    url: str
    session: aiohttp.ClientSession
    store: SqlStore

    async def post(self, body: Any, **kw: Any) -> tuple[int, str]:
        """A form (a dict, or raw bytes with ``headers``) or ``json=``."""
        async with self.session.post(self.url, data=body, **kw) as response:
            return response.status, await response.text()

    async def state(self, domain: str = DOMAIN) -> tuple[PortalRecord | None, Any]:
        async with self.store.unit_of_work(readonly=True) as uow:
            portal = await uow.portals.get(domain)
            tokens = await uow.tokens.get(domain)
        pair = None
        if tokens is not None:
            pair = (
                tokens.access_token.get_secret_value(),
                tokens.refresh_token.get_secret_value(),
                tokens.generation,
            )
        return portal, pair


@pytest.fixture
async def receiver(store: SqlStore) -> AsyncIterator[Receiver]:
    async with _receiver(store, APP) as serving:
        yield serving


@pytest.fixture
async def without_application(store: SqlStore) -> AsyncIterator[Receiver]:
    """The install route of a worker with no application configured."""
    async with _receiver(store, None) as serving:
        yield serving


@asynccontextmanager
async def _receiver(store: SqlStore, application: Application | None) -> AsyncIterator[Receiver]:
    routes = InstallRoutes(store=store, application=application)
    async with (
        http_server([routes], host="127.0.0.1", port=0) as url,
        aiohttp.ClientSession() as session,
    ):
        assert url is not None
        yield Receiver(url + PATH, session, store)


async def register(store: SqlStore, **fields: Any) -> None:
    """An OAuth portal an operator registered (``sipline portals add DOMAIN --oauth``)."""
    async with store.unit_of_work() as uow:
        await uow.portals.add(
            PortalRecord(
                domain=DOMAIN,
                auth="oauth",
                client_id="local.own",
                client_secret=SecretStr("own-secret"),
                **fields,
            )
        )
        await uow.commit()


async def test_an_install_registers_the_portal_with_its_tokens(receiver: Receiver) -> None:
    status, text = await receiver.post(install_form())
    assert (status, json.loads(text)) == (200, {"status": "installed", "portal": DOMAIN})
    portal, pair = await receiver.state()
    assert portal is not None
    assert (portal.auth, portal.enabled, portal.client_id) == ("oauth", True, "app.sipline")
    assert portal.client_secret is not None
    assert portal.client_secret.get_secret_value() == "app-secret"
    assert portal.rest_url == f"https://{DOMAIN}/rest/"
    assert portal.oauth_server_url == APP.oauth_server_url  # never the callback's endpoint
    assert portal.member_id == "a1b2c3d4e5f6"
    assert portal.application_token is not None
    assert portal.application_token.get_secret_value() == "apptoken0001"
    assert pair == ("access0001", "refresh0001", 1)
    # the same application installed again (Bitrix24 repeating it): the new pair is kept
    status, text = await receiver.post(
        install_form(access_token="access0002", refresh_token="refresh0002")
    )
    assert (status, json.loads(text)["status"]) == (200, "reinstalled")
    assert (await receiver.state())[1] == ("access0002", "refresh0002", 2)


async def test_the_json_form_of_the_callback_is_accepted(receiver: Receiver) -> None:
    status, text = await receiver.post(None, json=as_json(install_form()))
    assert (status, json.loads(text)["status"]) == (200, "installed")
    assert (await receiver.state())[1] == ("access0001", "refresh0001", 1)


async def test_uninstall_disables_the_portal_and_a_new_install_is_fresh(
    receiver: Receiver,
) -> None:
    await receiver.post(install_form())
    status, text = await receiver.post(uninstall_form())
    assert (status, json.loads(text)["status"]) == (200, "uninstalled")
    portal, pair = await receiver.state()
    assert portal is not None
    assert (portal.enabled, portal.application_token, pair) == (False, None, None)
    # once uninstalled, the old application token proves nothing any more
    assert (await receiver.post(uninstall_form()))[0] == 403
    status, _ = await receiver.post(
        install_form(application_token="apptoken0002", access_token="access0003")
    )
    assert status == 200
    portal, pair = await receiver.state()
    assert portal is not None
    assert portal.enabled
    assert pair is not None
    assert pair[0] == "access0003"


async def test_later_events_are_checked_against_the_application_token(
    receiver: Receiver,
) -> None:
    await receiver.post(install_form())
    event = uninstall_form(event="ONAPPUPDATE")
    status, text = await receiver.post(event)
    assert (status, json.loads(text)["status"]) == (200, "verified")
    event["auth[application_token]"] = "apptoken0009"
    assert (await receiver.post(event))[0] == 403
    other = uninstall_form(event="ONAPPUPDATE", domain="other.bitrix24.test", member_id="ff")
    assert (await receiver.post(other))[0] == 403  # no such portal


FORGED: list[tuple[str, dict[str, str]]] = [
    ("another application token", install_form(application_token=CANARY)),
    ("another member id", install_form(member_id="ffffffff", access_token=CANARY)),
    ("uninstall, wrong token", uninstall_form(application_token=CANARY)),
    ("uninstall, wrong member", uninstall_form(member_id="ffff", application_token=CANARY)),
]


@pytest.mark.parametrize(("case", "form"), FORGED, ids=[case for case, _ in FORGED])
async def test_a_forged_callback_changes_nothing_and_echoes_no_token(
    receiver: Receiver, caplog: pytest.LogCaptureFixture, case: str, form: dict[str, str]
) -> None:
    await receiver.post(install_form())
    before = await receiver.state()
    with caplog.at_level(logging.DEBUG):
        status, text = await receiver.post(form)
    assert (status, json.loads(text)) == (403, {"error": "not_verified"}), case
    assert await receiver.state() == before
    assert CANARY not in text + caplog.text
    assert "apptoken0001" not in text + caplog.text


def _without(name: str) -> dict[str, str]:
    form = install_form(access_token=CANARY)
    del form[name]
    return form


MALFORMED: list[tuple[str, Any, dict[str, Any]]] = [
    *[
        (f"no {name}", _without(name), {})
        for name in (
            "event",
            "auth[domain]",
            "auth[member_id]",
            "auth[application_token]",
            "auth[access_token]",
            "auth[refresh_token]",
            "auth[client_endpoint]",
        )
    ],
    ("bad domain", install_form(domain="not a domain", access_token=CANARY), {}),
    ("bad member id", install_form(member_id="a b/c", access_token=CANARY), {}),
    ("token with a space", install_form(access_token=CANARY + " x"), {}),
    ("not an event", install_form(event="DROP TABLE", access_token=CANARY), {}),
    (
        "field twice",
        f"auth[access_token]={CANARY}&auth[access_token]=x&" + "event=ONAPPINSTALL",
        {"headers": {"Content-Type": "application/x-www-form-urlencoded"}},
    ),
    (
        "not a form",
        f"{CANARY}",
        {"headers": {"Content-Type": "application/x-www-form-urlencoded"}},
    ),
    (
        "not UTF-8",
        b"event=ONAPPINSTALL&auth[access_token]=\xff" + CANARY.encode(),
        {"headers": {"Content-Type": "application/x-www-form-urlencoded"}},
    ),
    (
        "JSON, not an object",
        json.dumps([CANARY]),
        {"headers": {"Content-Type": "application/json"}},
    ),
    (
        "JSON, auth not an object",
        json.dumps({"event": "ONAPPINSTALL", "auth": CANARY}),
        {"headers": {"Content-Type": "application/json"}},
    ),
    (
        "JSON, token not a string",
        json.dumps(
            as_json(install_form())
            | {"auth": as_json(install_form())["auth"] | {"access_token": [CANARY]}}
        ),
        {"headers": {"Content-Type": "application/json"}},
    ),
    (
        "client endpoint not http",
        {**install_form(access_token=CANARY), "auth[client_endpoint]": "file:///etc/passwd"},
        {},
    ),
]


@pytest.mark.parametrize(
    ("case", "body", "options"), MALFORMED, ids=[case for case, _, _ in MALFORMED]
)
async def test_a_body_not_shaped_like_bitrix24s_is_a_400(
    receiver: Receiver,
    caplog: pytest.LogCaptureFixture,
    case: str,
    body: Any,
    options: dict[str, Any],
) -> None:
    with caplog.at_level(logging.DEBUG):
        status, text = await receiver.post(body, **options)
    assert status == 400, (case, text)
    assert json.loads(text)["error"] == "invalid_callback"
    assert CANARY not in text + caplog.text
    assert await receiver.state() == (None, None)


async def test_other_media_types_and_oversize_bodies_are_refused(receiver: Receiver) -> None:
    form = install_form(access_token=CANARY)
    raw = "&".join(f"{k}={v}" for k, v in form.items())
    status, text = await receiver.post(raw, headers={"Content-Type": "text/plain"})
    assert (status, json.loads(text)["error"]) == (415, "unsupported_media_type")
    padded = raw + "&data[PAD]=" + "x" * MAX_BODY_BYTES
    status, text = await receiver.post(
        padded, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert (status, json.loads(text)["error"]) == (413, "body_too_large")

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted while read
        for start in range(0, len(padded), 1024):
            yield padded[start : start + 1024].encode()

    status, _ = await receiver.post(
        chunks(), headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert status == 413
    assert CANARY not in text
    assert await receiver.state() == (None, None)


async def test_without_an_application_only_registered_portals_may_install(
    without_application: Receiver, store: SqlStore
) -> None:
    receiver = without_application
    status, text = await receiver.post(install_form())
    assert (status, json.loads(text)) == (403, {"error": "not_registered"})
    assert await receiver.state() == (None, None)
    await register(store)
    async with store.unit_of_work() as uow:
        await uow.portals.add(
            PortalRecord(
                domain="hook.bitrix24.test",
                auth="webhook",
                webhook_url=SecretStr("https://hook.bitrix24.test/rest/1/code/"),
            )
        )
        await uow.commit()
    status, _ = await receiver.post(install_form())
    assert status == 200
    portal, pair = await receiver.state()
    assert portal is not None
    assert portal.client_id == "local.own"
    assert pair == ("access0001", "refresh0001", 1)
    hooked = install_form(domain="hook.bitrix24.test", member_id=secrets.token_hex(4))
    status, text = await receiver.post(hooked)
    assert (status, json.loads(text)) == (409, {"error": "not_oauth"})
    # a member id already registered for another portal is not taken over
    status, _ = await receiver.post(install_form(domain="hook.bitrix24.test"))
    assert status == 403


async def test_a_first_install_is_trusted_per_domain_until_the_portal_is_removed(
    receiver: Receiver,
) -> None:
    """Nothing in a first install can be checked (no token is stored yet): with the
    application configured, whoever posts first for an unregistered domain registers it.
    The real portal's install is then refused, and changes nothing, until an operator
    removes the entry (docs/operations.md, "Who is trusted at the first install")."""
    forged = install_form(member_id="f0f0f0f0", application_token="forged01", access_token="x1")
    forged["auth[client_endpoint]"] = "https://collector.example/rest/"
    status, _ = await receiver.post(forged)
    assert status == 200
    squatted, _ = await receiver.state()
    assert squatted is not None
    # reached at the application's REST URL for the domain, never where the callback says
    assert squatted.rest_url == f"https://{DOMAIN}/rest/"
    status, text = await receiver.post(install_form())
    assert (status, json.loads(text)) == (403, {"error": "not_verified"})
    portal, pair = await receiver.state()
    assert portal is not None
    assert portal.member_id == "f0f0f0f0"
    assert pair == ("x1", "refresh0001", 1)
    async with receiver.store.unit_of_work() as uow:
        assert await uow.portals.remove(DOMAIN)
        await uow.commit()
    status, text = await receiver.post(install_form())
    assert (status, json.loads(text)["status"]) == (200, "installed")
    portal, pair = await receiver.state()
    assert portal is not None
    assert portal.member_id == "a1b2c3d4e5f6"
    assert pair is not None
    assert pair[:2] == ("access0001", "refresh0001")


async def test_a_portal_registered_with_its_member_id_takes_only_its_own_first_install(
    without_application: Receiver, store: SqlStore
) -> None:
    receiver = without_application
    await register(store, member_id="a1b2c3d4e5f6")
    status, text = await receiver.post(install_form(member_id="f0f0f0f0"))
    assert (status, json.loads(text)) == (403, {"error": "not_verified"})
    portal, pair = await receiver.state()
    assert portal is not None
    assert (portal.application_token, pair) == (None, None)
    status, _ = await receiver.post(install_form())
    assert status == 200
    portal, pair = await receiver.state()
    assert portal is not None
    assert portal.application_token is not None
    assert pair == ("access0001", "refresh0001", 1)


def test_the_rest_url_of_installed_portals_is_a_setting() -> None:
    assert Settings().app_rest_url == "https://{domain}/rest/"
    sandbox = Settings(app_rest_url="http://127.0.0.1:8080/p/{domain}/rest")
    assert sandbox.app_rest_url == "http://127.0.0.1:8080/p/{domain}/rest/"
    with pytest.raises(ValidationError, match="expected an http"):
        Settings(app_rest_url="ftp://{domain}/rest/")
    application = replace(APP, rest_url=sandbox.app_rest_url)
    assert application.rest_url_of(DOMAIN) == f"http://127.0.0.1:8080/p/{DOMAIN}/rest/"


async def test_an_oauth_portal_of_sipline_portals_may_be_installed_again(
    store: SqlStore,
) -> None:
    """Without an application configured, a portal configured as OAuth in SIPLINE_PORTALS is
    one an operator registered: its install registers it from that entry (so a portal whose
    pair was lost can be authorised again) and clears its need to be."""
    entry = PortalSettings(
        oauth=OAuthApp(
            client_id="local.configured",
            client_secret=SecretStr("configured-secret"),
            access_token=SecretStr("old-access"),
            refresh_token=SecretStr("old-refresh"),
            rest_url=AnyHttpUrl(f"https://{DOMAIN}/rest/"),
            server_url=AnyHttpUrl("https://oauth.test/oauth/token/"),
        ),
        plan="enterprise",
    )
    async with store.unit_of_work() as uow:  # the pair the store kept, then lost
        await uow.tokens.put(
            DOMAIN,
            access_token=SecretStr("old-access"),
            refresh_token=SecretStr("old-refresh"),
            expires_at=None,
        )
        await uow.tokens.require_reauth(DOMAIN, reason="refresh_lost", detail="lost")
        await uow.commit()
    routes = InstallRoutes(store=store, configured={DOMAIN: entry})
    async with (
        http_server([routes], host="127.0.0.1", port=0) as url,
        aiohttp.ClientSession() as session,
    ):
        assert url is not None
        receiver = Receiver(url + PATH, session, store)
        status, text = await receiver.post(install_form())
        assert (status, json.loads(text)["status"]) == (200, "reinstalled")
        portal, pair = await receiver.state()
        assert portal is not None
        assert (portal.client_id, portal.plan, portal.oauth_server_url) == (
            "local.configured",
            "enterprise",
            "https://oauth.test/oauth/token/",
        )
        assert portal.application_token is not None  # later events are checked against it
        assert pair == ("access0001", "refresh0001", 2)
        async with store.unit_of_work(readonly=True) as uow:
            tokens = await uow.tokens.get(DOMAIN)
        assert tokens is not None
        assert tokens.reauth is None
        forged = install_form(application_token="forged", access_token=CANARY)
        status, text = await receiver.post(forged)
        assert status == 403
        assert CANARY not in text
