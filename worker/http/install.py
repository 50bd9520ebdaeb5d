"""``POST /bitrix24/install``: the Bitrix24 application's install callback and its events.

Give this URL to Bitrix24 as the application's installation callback (a local application's
"installation path", or the handler of ``ONAPPINSTALL``) and as the handler of
``ONAPPUNINSTALL``. Bitrix24 posts a form with PHP brackets (``event=ONAPPINSTALL``,
``auth[access_token]=…``, ``auth[domain]=…``); the same fields as a JSON object
(``{"event": …, "auth": {…}}``) are accepted too. The route checks the shape and hands an
:class:`~worker.store.installs.AppEvent` to :mod:`worker.store.installs`, which decides.

Answers (JSON; never a token, never a value from the request other than a checked domain):

=====  ==========================================================================
200    ``{"status": "installed" | "reinstalled" | "uninstalled" | "verified", "portal"}``
400    ``invalid_callback``: not shaped like Bitrix24's callback (names the field)
403    ``not_verified`` (application token or member id differ, no such portal) or
       ``not_registered`` (an unknown portal while no application is configured)
409    ``not_oauth``: the portal is registered with a webhook
413    ``body_too_large`` (more than :data:`MAX_BODY_BYTES`)
415    ``unsupported_media_type``: neither a form nor JSON
503    ``store_unavailable``: try again (Bitrix24 does not: install again)
=====  ==========================================================================
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from aiohttp import web
from pydantic import SecretStr

from worker.errors import SiplineError
from worker.ops.portals import MEMBER_ID, InvalidEntry
from worker.ops.portals import domain as checked_domain
from worker.settings import PortalSettings
from worker.store import Store, StoreUnavailable
from worker.store.installs import INSTALL, AppEvent, Application, InstallRefused, apply_event

logger = logging.getLogger(__name__)

PATH = "/bitrix24/install"
MAX_BODY_BYTES = 16 * 1024
MAX_FIELDS = 100
FORM = "application/x-www-form-urlencoded"

_KEY = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)((?:\[[A-Za-z0-9_]*\])*)$")
_EVENT = re.compile(r"^ON[A-Z0-9_]{1,60}$")
_TOKEN = re.compile(r"^[\x21-\x7e]{1,512}$")  # printable ASCII, no spaces
_STATUS = {"not_verified": 403, "not_registered": 403, "not_oauth": 409}


class Malformed(ValueError):
    """Not a callback Bitrix24 would send; the message names a field, never a value."""


def _reply(http_status: int, **body: object) -> web.Response:
    return web.json_response(body, status=http_status)


async def _body(request: web.Request) -> bytes:
    """At most :data:`MAX_BODY_BYTES`; raises ``web.HTTPRequestEntityTooLarge`` beyond."""
    too_large = web.HTTPRequestEntityTooLarge(
        max_size=MAX_BODY_BYTES,
        actual_size=request.content_length or MAX_BODY_BYTES + 1,
        text=json.dumps({"error": "body_too_large"}),
        content_type="application/json",
    )
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    while chunk := await request.content.read(4096):
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def _form_fields(text: str) -> dict[str, Any]:
    """``a=1&auth[domain]=x&data[VERSION]=1`` → ``{"a": "1", "auth": {"domain": "x"}, …}``.

    Only the first two levels are kept (the rest of ``data`` is not read); a field read
    twice is refused, as PHP would silently keep the last.
    """
    try:
        pairs = parse_qsl(
            text, keep_blank_values=True, strict_parsing=True, max_num_fields=MAX_FIELDS
        )
    except ValueError:
        raise Malformed("the body is not a form") from None
    fields: dict[str, Any] = {}
    for key, value in pairs:
        match = _KEY.fullmatch(key)
        if match is None:
            raise Malformed("a form field name is not NAME or NAME[KEY]")
        name, rest = match[1], match[2]
        if not rest:
            if name in fields:
                raise Malformed(f"{name} is given twice")
            fields[name] = value
            continue
        sub = rest[1 : rest.index("]")]
        group = fields.setdefault(name, {})
        if not isinstance(group, dict):
            raise Malformed(f"{name} is both a value and a group")
        if rest.count("[") == 1:
            if sub in group:
                raise Malformed(f"{name}[{sub}] is given twice")
            group[sub] = value
    return fields


def _fields(request: web.Request, raw: bytes) -> dict[str, Any]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Malformed("the body is not UTF-8") from None
    if request.content_type == FORM:
        return _form_fields(text)
    try:
        body = json.loads(text)
    except ValueError:
        raise Malformed("the body is not JSON") from None
    if not isinstance(body, dict):
        raise Malformed("the body is not a JSON object")
    return body


def _text(group: dict[str, Any], name: str, label: str, *, required: bool = True) -> str | None:
    value = group.get(name)
    if value is None or value == "":
        if required:
            raise Malformed(f"{label} is missing")
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise Malformed(f"{label} is not a string")
    return str(value)


def _matching(value: str, pattern: re.Pattern[str], label: str) -> str:
    if not pattern.fullmatch(value):
        raise Malformed(f"{label} is malformed")
    return value


def _endpoint(value: str | None) -> str | None:
    if value is None:
        return None
    parts = urlsplit(value)
    if (
        len(value) > 2048
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.username
        or parts.password
        or parts.query
        or parts.fragment
    ):
        raise Malformed("auth[client_endpoint] is not an http(s) URL")
    return value if value.endswith("/") else value + "/"


def _expires_in(value: str | None) -> int | None:
    if value is None:
        return None
    if not value.isdigit() or not 0 < int(value) <= 10 * 86400:
        raise Malformed("auth[expires_in] is not a number of seconds")
    return int(value)


def parse_event(fields: dict[str, Any]) -> AppEvent:
    """The fields of a callback as an :class:`AppEvent`; raises :class:`Malformed`."""
    event = _matching(str(_text(fields, "event", "event")).upper(), _EVENT, "event")
    auth = fields.get("auth")
    if not isinstance(auth, dict):
        raise Malformed("auth is missing")
    try:
        domain = checked_domain(str(_text(auth, "domain", "auth[domain]")))
    except InvalidEntry:
        raise Malformed("auth[domain] is not a portal domain") from None
    member_id = _matching(str(_text(auth, "member_id", "auth[member_id]")), MEMBER_ID, "member_id")
    install = event == INSTALL

    def token(name: str, *, required: bool) -> SecretStr | None:
        value = _text(auth, name, f"auth[{name}]", required=required)
        return None if value is None else SecretStr(_matching(value, _TOKEN, f"auth[{name}]"))

    application_token = token("application_token", required=True)
    assert application_token is not None
    return AppEvent(
        event=event,
        domain=domain,
        member_id=member_id,
        application_token=application_token,
        access_token=token("access_token", required=install),
        refresh_token=token("refresh_token", required=install),
        client_endpoint=_endpoint(
            _text(auth, "client_endpoint", "auth[client_endpoint]", required=install)
        ),
        expires_in=_expires_in(_text(auth, "expires_in", "auth[expires_in]", required=False)),
    )


@dataclass(frozen=True, slots=True)
class InstallRoutes:
    """The install callback and application events, applied to ``store``'s registry."""

    store: Store
    application: Application | None = None
    configured: Mapping[str, PortalSettings] = field(default_factory=dict)
    """``SIPLINE_PORTALS``: its OAuth portals may be installed (again) without an
    application configured."""

    def install(self, app: web.Application) -> None:
        app.router.add_post(PATH, self.receive)

    async def receive(self, request: web.Request) -> web.Response:
        if request.content_type not in (FORM, "application/json"):
            return _reply(415, error="unsupported_media_type")
        try:
            event = parse_event(_fields(request, await _body(request)))
        except Malformed as exc:
            logger.warning("bitrix24 app callback refused: %s", exc)
            return _reply(400, error="invalid_callback", message=str(exc))
        try:
            outcome = await apply_event(
                self.store, event, application=self.application, configured=self.configured
            )
        except InstallRefused as exc:
            logger.warning("bitrix24 %s %s refused: %s", event.domain, event.event, exc)
            return _reply(_STATUS.get(exc.code, 403), error=exc.code)
        except StoreUnavailable as exc:
            logger.error("bitrix24 %s %s not applied: %s", event.domain, event.event, exc)
            return _reply(503, error="store_unavailable")
        except SiplineError as exc:  # a concurrent install of the same portal, no key, …
            logger.error("bitrix24 %s %s not applied: %s", event.domain, event.event, exc)
            return _reply(409, error="not_applied")
        logger.info("bitrix24 %s %s: %s", event.domain, event.event, outcome)
        return _reply(200, status=outcome, portal=event.domain)
