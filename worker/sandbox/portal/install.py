"""The portal installs (and uninstalls) the application against a running worker.

Bitrix24 POSTs a local application's installation callback as a form (PHP brackets), the
same body its ``ONAPPINSTALL`` event has (apidocs ``api-reference/common/events/
on-app-install``, ``settings/app-installation/local-apps/installation-callback``)::

    event=ONAPPINSTALL&data[VERSION]=1&data[ACTIVE]=Y&data[INSTALLED]=Y&data[LANGUAGE_ID]=ru
    &ts=…&auth[access_token]=…&auth[expires]=…&auth[expires_in]=3600&auth[scope]=telephony
    &auth[domain]=…&auth[server_endpoint]=…&auth[status]=L&auth[client_endpoint]=…
    &auth[member_id]=…&auth[user_id]=1&auth[refresh_token]=…&auth[application_token]=…

``ONAPPUNINSTALL`` carries ``data[LANGUAGE_ID]``, ``data[CLEAN]`` and an ``auth`` without
tokens: ``domain``, ``server_endpoint``, ``client_endpoint``, ``member_id`` and the
``application_token`` given at install, the only thing a receiver can check it by.  After
an uninstall every token of the application stops working.

The tokens sent are issued by the portal's own OAuth server, so the worker that receives
them can call the portal and refresh them as with any other pair.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

import aiohttp

from worker.sandbox.portal.errors import ApiError
from worker.sandbox.portal.state import PortalState

INSTALL_EVENT = "ONAPPINSTALL"
UNINSTALL_EVENT = "ONAPPUNINSTALL"
APP_STATUS_LOCAL = "L"
TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class Endpoints:
    """Where the receiver will call: the portal's REST URL and the OAuth server's."""

    client_endpoint: str
    server_endpoint: str


@dataclass(frozen=True, slots=True)
class Delivery:
    """What happened to one install or uninstall call (no token in here)."""

    event: str
    domain: str
    member_id: str
    status: int

    @property
    def accepted(self) -> bool:
        return 200 <= self.status < 300

    def as_dict(self) -> dict[str, object]:
        return {
            "event": self.event,
            "domain": self.domain,
            "member_id": self.member_id,
            "status": self.status,
            "accepted": self.accepted,
        }


def install_form(
    state: PortalState,
    endpoints: Endpoints,
    *,
    application_token: str,
    version: str = "1",
    language: str = "en",
) -> list[tuple[str, str]]:
    """The body of the installation callback, with a fresh token pair."""
    pair = state.oauth.grant()
    ttl = int(state.oauth.access_token_ttl)
    now = int(time.time())
    return [
        ("event", INSTALL_EVENT),
        ("data[VERSION]", version),
        ("data[ACTIVE]", "Y"),
        ("data[INSTALLED]", "Y"),
        ("data[LANGUAGE_ID]", language),
        ("ts", str(now)),
        ("auth[access_token]", pair.access_token),
        ("auth[expires]", str(now + ttl)),
        ("auth[expires_in]", str(ttl)),
        ("auth[scope]", "telephony"),
        ("auth[domain]", state.options.domain),
        ("auth[server_endpoint]", endpoints.server_endpoint),
        ("auth[status]", APP_STATUS_LOCAL),
        ("auth[client_endpoint]", endpoints.client_endpoint),
        ("auth[member_id]", state.oauth.member_id),
        ("auth[user_id]", str(state.options.webhook_user_id)),
        ("auth[refresh_token]", pair.refresh_token),
        ("auth[application_token]", application_token),
    ]


def uninstall_form(
    state: PortalState,
    endpoints: Endpoints,
    *,
    application_token: str,
    clean: bool = False,
    language: str = "en",
) -> list[tuple[str, str]]:
    """The body of ``ONAPPUNINSTALL``: no tokens, only the application token to check."""
    return [
        ("event", UNINSTALL_EVENT),
        ("data[LANGUAGE_ID]", language),
        ("data[CLEAN]", "1" if clean else "0"),
        ("ts", str(int(time.time()))),
        ("auth[domain]", state.options.domain),
        ("auth[server_endpoint]", endpoints.server_endpoint),
        ("auth[client_endpoint]", endpoints.client_endpoint),
        ("auth[member_id]", state.oauth.member_id),
        ("auth[application_token]", application_token),
    ]


async def install(
    state: PortalState, endpoints: Endpoints, url: str, *, version: str = "1"
) -> Delivery:
    """Install the application: a new application token and token pair, POSTed to ``url``."""
    application_token = secrets.token_hex(16)
    form = install_form(state, endpoints, application_token=application_token, version=version)
    state.application_token = application_token
    state.counters.installs += 1
    status = await _post(url, form)
    return Delivery(INSTALL_EVENT, state.options.domain, state.oauth.member_id, status)


async def uninstall(
    state: PortalState, endpoints: Endpoints, url: str, *, clean: bool = False
) -> Delivery:
    """Uninstall: revoke every token, then tell ``url`` with the install's application token."""
    application_token = state.application_token
    if application_token is None:
        raise ApiError("APP_NOT_INSTALLED", "The application is not installed here", 409)
    state.oauth.revoke_all()
    state.application_token = None
    state.counters.uninstalls += 1
    form = uninstall_form(state, endpoints, application_token=application_token, clean=clean)
    status = await _post(url, form)
    return Delivery(UNINSTALL_EVENT, state.options.domain, state.oauth.member_id, status)


async def _post(url: str, form: list[tuple[str, str]]) -> int:
    """POST the form as Bitrix24 does; the receiver's status (its body is not kept)."""
    timeout = aiohttp.ClientTimeout(total=TIMEOUT_SECONDS)
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.post(url, data=form) as response,
        ):
            await response.read()
            return response.status
    except (aiohttp.ClientError, TimeoutError) as exc:
        # the URL is the caller's; the form (with the tokens) never reaches the message
        raise ApiError(
            "INSTALL_CALLBACK_UNREACHABLE", f"{type(exc).__name__} posting to the receiver", 502
        ) from None
