"""Keep a running process's portals equal to the registry, without a restart.

The registry's revision (one counter row) is read every ``interval`` seconds; only when it
moved are the portals read and the differences applied to the process's portal registry
(``upsert`` for added or changed ones, ``remove`` for removed or disabled ones), so an
added, changed or removed portal is served within one interval.

``SIPLINE_PORTALS`` still works: its portals are the starting set, and where the store
names the same domain the store's entry wins (a portal disabled in the store is not served
even if the environment names it).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager, suppress
from typing import Any, Protocol

from pydantic import AnyHttpUrl

from worker.settings import OAuthApp, PortalSettings
from worker.store.errors import StoreError, StoreUnavailable
from worker.store.ports import Store
from worker.store.records import PortalRecord, TokenRecord

logger = logging.getLogger(__name__)

DEFAULT_INTERVAL = 2.0


class PortalSink(Protocol):
    """The process's portal registry (the Bitrix24 adapter's)."""

    def upsert(self, portal: str, config: PortalSettings) -> bool: ...

    def remove(self, portal: str) -> bool: ...


def portal_settings(record: PortalRecord, tokens: TokenRecord | None) -> PortalSettings | None:
    """The settings a registry entry stands for; None when it cannot be served yet
    (an OAuth portal without tokens: not installed, or tokens never seeded)."""
    policy: dict[str, Any] = {
        "repair_policy": record.repair_policy,
        "repair_budget": record.repair_budget,
        "owns_voximplant_account": record.owns_voximplant_account,
    }
    if record.auth == "webhook":
        return PortalSettings(
            webhook_url=record.webhook_url,
            plan=record.plan,
            bucket_capacity=record.bucket_capacity,
            drain_per_second=record.drain_per_second,
            **policy,
        )
    if tokens is None or record.client_id is None or record.client_secret is None:
        return None
    app = OAuthApp(
        client_id=record.client_id,
        client_secret=record.client_secret,
        access_token=tokens.access_token,
        refresh_token=tokens.refresh_token,
        rest_url=AnyHttpUrl(record.rest_url or f"https://{record.domain}/rest/"),
        server_url=AnyHttpUrl(record.oauth_server_url),
    )
    return PortalSettings(
        oauth=app,
        plan=record.plan,
        bucket_capacity=record.bucket_capacity,
        drain_per_second=record.drain_per_second,
        **policy,
    )


class RegistrySync:
    """Polls the store's portal registry and applies its changes to a :class:`PortalSink`."""

    def __init__(
        self,
        *,
        store: Store,
        sink: PortalSink,
        static: Mapping[str, PortalSettings],
        interval: float = DEFAULT_INTERVAL,
    ) -> None:
        self._store, self._sink, self._interval = store, sink, interval
        self._static = dict(static)
        self._applied: dict[str, PortalSettings] = dict(static)
        self._revision: int | None = None

    @property
    def served(self) -> frozenset[str]:
        """The domains the sink currently serves through this sync."""
        return frozenset(self._applied)

    async def sync_once(self) -> bool:
        """Reload if the registry moved; True when anything was applied."""
        async with self._store.unit_of_work(readonly=True) as uow:
            revision = await uow.portals.revision()
            if revision == self._revision:
                return False
            records = await uow.portals.list()
            tokens = {
                r.domain: await uow.tokens.get(r.domain) for r in records if r.auth == "oauth"
            }
        wanted = dict(self._static)
        for record in records:
            config = portal_settings(record, tokens.get(record.domain)) if record.enabled else None
            if config is None:
                wanted.pop(record.domain, None)
                if record.enabled:
                    logger.warning(
                        "portal %s: no OAuth tokens stored yet; not served", record.domain
                    )
            else:
                wanted[record.domain] = config
        changed = self._apply(wanted)
        self._revision = revision
        return changed

    def _apply(self, wanted: dict[str, PortalSettings]) -> bool:
        changed = False
        for domain in sorted(self._applied.keys() - wanted.keys()):
            self._sink.remove(domain)
            logger.info("portal %s: no longer served", domain)
            changed = True
        for domain, config in sorted(wanted.items()):
            if self._applied.get(domain) != config:
                self._sink.upsert(domain, config)
                logger.info("portal %s: served with its registry entry", domain)
                changed = True
        self._applied = wanted
        return changed

    @asynccontextmanager
    async def running(self) -> AsyncIterator[RegistrySync]:
        """Sync once (so the first command already finds the store's portals), then poll
        in the background until the block ends."""
        await self.sync_once()
        task = asyncio.create_task(self.run(), name="portal-registry-sync")
        try:
            yield self
        finally:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task

    async def run(self) -> None:
        """Poll until cancelled; a store that is briefly unavailable is retried, not fatal."""
        while True:
            try:
                await self.sync_once()
            except StoreUnavailable as exc:
                logger.warning("portal registry not refreshed: %s", exc)
            except StoreError as exc:
                logger.error("portal registry not refreshed: %s", exc)
            await asyncio.sleep(self._interval)
