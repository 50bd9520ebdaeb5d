"""A Bitrix24 application installed on (or removed from) a portal, applied to the registry.

Bitrix24 tells the application about itself through events posted to its handler:
``ONAPPINSTALL`` (also what a local application's installation callback carries) with the
portal's first OAuth pair, its ``member_id`` and an ``application_token``; later events,
``ONAPPUNINSTALL`` among them, carry the same ``application_token`` and nothing else to
check them by (facts and sources: ``api-facts.md``, "App install and uninstall"). So:

- an install registers the portal (or, for one already registered, fills in its tokens) and
  keeps the application token, encrypted; the portal and its pair are written in one unit
  of work, so a running worker's registry sync serves it with both or not at all;
- a portal that holds an application token accepts an install, an uninstall or any other
  event only with that token (compared in constant time) and from its ``member_id``;
- an uninstall disables the portal, forgets its application token and its (now revoked)
  tokens; the next install is then a fresh one.

Who may install: with the application configured (``SIPLINE_APP_CLIENT_ID``/``_SECRET``) any
portal; without it only a portal an operator registered first (``sipline portals add
--oauth``: its own client id and secret are kept) or configured as an OAuth portal in
``SIPLINE_PORTALS`` (its first install registers it from that entry, so that a portal whose
pair was lost can be installed again; the registry's entry wins from then on), and from its
``member_id`` where the operator gave one. A first install is trusted on first use (nothing
is stored to check it against), so nothing it names is used as an address: a portal it
registers is reached at the application's REST URL for its domain, not at the callback's
``client_endpoint``. Everything refused raises :class:`InstallRefused` and changes nothing;
no message quotes a token (docs/operations.md, "Who is trusted at the first install").
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic import SecretStr

from worker.settings import PortalSettings
from worker.store.errors import StoreError
from worker.store.ports import Store, UnitOfWork
from worker.store.records import PortalRecord

logger = logging.getLogger(__name__)

INSTALL = "ONAPPINSTALL"
UNINSTALL = "ONAPPUNINSTALL"

Outcome = Literal["installed", "reinstalled", "uninstalled", "verified"]


@dataclass(frozen=True, slots=True)
class AppEvent:
    """One event of the application, as Bitrix24 posted it (already checked for shape)."""

    event: str
    domain: str
    member_id: str
    application_token: SecretStr
    access_token: SecretStr | None = None
    refresh_token: SecretStr | None = None
    client_endpoint: str | None = None
    expires_in: int | None = None


@dataclass(frozen=True, slots=True)
class Application:
    """The application a portal not registered before is installed as."""

    client_id: str
    client_secret: SecretStr
    oauth_server_url: str
    # the REST endpoint of a portal it registers, "{domain}" for the portal's domain
    # (SIPLINE_APP_REST_URL): never the callback's client_endpoint, which is not checked
    rest_url: str

    def rest_url_of(self, domain: str) -> str:
        return self.rest_url.replace("{domain}", domain)


class InstallRefused(StoreError):
    """An install or event that is not accepted; nothing was changed.

    ``code``: ``not_verified`` (no such portal, or its application token or member id
    differ), ``not_registered`` (an install from a portal nobody registered, while no
    application is configured), ``not_oauth`` (the portal is registered with a webhook).
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _same(stored: SecretStr, given: SecretStr) -> bool:
    return hmac.compare_digest(
        stored.get_secret_value().encode("utf-8"), given.get_secret_value().encode("utf-8")
    )


def _verify(record: PortalRecord | None, event: AppEvent) -> PortalRecord:
    """The portal, if ``event`` carries its application token and member id."""
    if record is None or record.application_token is None:
        raise InstallRefused("not_verified", f"portal {event.domain}: no application installed")
    token_ok = _same(record.application_token, event.application_token)
    member_ok = record.member_id is None or hmac.compare_digest(
        record.member_id.encode("utf-8"), event.member_id.encode("utf-8")
    )
    if not (token_ok and member_ok):
        raise InstallRefused(
            "not_verified",
            f"portal {event.domain}: the application token or member_id does not match",
        )
    return record


async def apply_event(
    store: Store,
    event: AppEvent,
    *,
    application: Application | None,
    configured: Mapping[str, PortalSettings] | None = None,
) -> Outcome:
    """Apply one application event; raises :class:`InstallRefused` (nothing changed)."""
    if event.event == INSTALL:
        return await install(store, event, application=application, configured=configured)
    if event.event == UNINSTALL:
        return await uninstall(store, event)
    async with store.unit_of_work(readonly=True) as uow:
        _verify(await uow.portals.get(event.domain), event)
    return "verified"


async def install(
    store: Store,
    event: AppEvent,
    *,
    application: Application | None,
    configured: Mapping[str, PortalSettings] | None = None,
) -> Outcome:
    """Register the portal with its tokens, or give a registered one its new tokens."""
    if event.access_token is None or event.refresh_token is None:
        raise InstallRefused("not_verified", f"portal {event.domain}: an install without tokens")
    entry = (configured or {}).get(event.domain)
    async with store.unit_of_work() as uow:
        record = await uow.portals.get(event.domain)
        await _member_is_free(uow, event)
        if record is None and entry is not None and entry.oauth is not None:
            outcome: Outcome = "reinstalled"  # configured by an operator: as registered first
            await uow.portals.add(_installed_again(configured_record(event.domain, entry), event))
        elif record is None:
            outcome = "installed"
            await uow.portals.add(_new_portal(event, application))
        else:
            outcome = "reinstalled"
            await uow.portals.update(_installed_again(record, event))
        expires = None
        if event.expires_in is not None:
            expires = datetime.now(UTC) + timedelta(seconds=event.expires_in)
        await uow.tokens.put(
            event.domain,
            access_token=event.access_token,
            refresh_token=event.refresh_token,
            expires_at=expires,
        )
        await uow.commit()
    return outcome


async def _member_is_free(uow: UnitOfWork, event: AppEvent) -> None:
    other = await uow.portals.by_member_id(event.member_id)
    if other is not None and other.domain != event.domain:
        raise InstallRefused(
            "not_verified",
            f"portal {event.domain}: its member_id is registered for portal {other.domain}",
        )


def configured_record(domain: str, entry: PortalSettings) -> PortalRecord:
    """A registry entry standing for an OAuth portal of ``SIPLINE_PORTALS`` (no tokens)."""
    assert entry.oauth is not None
    return PortalRecord(
        domain=domain,
        auth="oauth",
        client_id=entry.oauth.client_id,
        client_secret=entry.oauth.client_secret,
        rest_url=str(entry.oauth.rest_url),
        oauth_server_url=str(entry.oauth.server_url),
        plan=entry.plan,
        bucket_capacity=entry.bucket_capacity,
        drain_per_second=entry.drain_per_second,
        sweep_interval=entry.sweep_interval,
        repair_policy=entry.repair_policy,
        repair_budget=entry.repair_budget,
        owns_voximplant_account=entry.owns_voximplant_account,
    )


def _new_portal(event: AppEvent, application: Application | None) -> PortalRecord:
    if application is None:
        raise InstallRefused(
            "not_registered",
            f"portal {event.domain} is not registered and no application is configured "
            "(SIPLINE_APP_CLIENT_ID)",
        )
    return PortalRecord(
        domain=event.domain,
        auth="oauth",
        client_id=application.client_id,
        client_secret=application.client_secret,
        rest_url=application.rest_url_of(event.domain),
        oauth_server_url=application.oauth_server_url,
        member_id=event.member_id,
        application_token=event.application_token,
    )


def _installed_again(record: PortalRecord, event: AppEvent) -> PortalRecord:
    """A registered portal after an install: a held application token must match; a
    portal without one (registered by an operator, or uninstalled) is enabled."""
    if record.auth != "oauth":
        raise InstallRefused(
            "not_oauth", f"portal {event.domain} is registered with a webhook, not OAuth"
        )
    first = record.application_token is None
    if not first:
        _verify(record, event)
    elif record.member_id is not None and record.member_id != event.member_id:
        raise InstallRefused("not_verified", f"portal {event.domain}: the member_id does not match")
    return replace(
        record,
        enabled=True if first else record.enabled,
        member_id=event.member_id,
        application_token=event.application_token,
        rest_url=record.rest_url or event.client_endpoint,
    )


async def uninstall(store: Store, event: AppEvent) -> Outcome:
    """Disable the portal and forget its application token and tokens."""
    async with store.unit_of_work() as uow:
        record = _verify(await uow.portals.get(event.domain), event)
        await uow.portals.update(replace(record, enabled=False, application_token=None))
        await uow.tokens.remove(event.domain)
        await uow.commit()
    return "uninstalled"
