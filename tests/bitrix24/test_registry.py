"""The registry of portals: one gateway per portal, changed or removed one portal at a time."""

from __future__ import annotations

import aiohttp
import pytest

from tests.bitrix24.conftest import DOMAIN, SettingsFactory, portals_for
from worker.errors import BadInput
from worker.sandbox.portal import SandboxPortal
from worker.settings import PortalSettings

OTHER = "other.bitrix24.test"


async def test_upsert_rebuilds_only_the_changed_portal(
    session: aiohttp.ClientSession, make_settings: SettingsFactory, portal: SandboxPortal
) -> None:
    portals = portals_for(session, make_settings())
    config = portals.get(DOMAIN).client.config
    assert portals.upsert(OTHER, config) is True
    mine, other = portals.get(DOMAIN), portals.get(OTHER)

    assert portals.upsert(DOMAIN, config) is False  # same settings: the same client stays
    assert portals.get(DOMAIN) is mine

    slower = PortalSettings.model_validate(config.model_dump() | {"drain_per_second": 500.0})
    assert portals.upsert(DOMAIN.upper(), slower) is True
    changed = portals.get(DOMAIN)
    assert changed is not mine
    assert changed.client.limiter is not mine.client.limiter
    assert changed.client.limiter.drain_per_second == 500.0
    assert portals.get(OTHER) is other  # the other portal keeps its client and bucket
    assert (await changed.connector()).paid  # and the new client works
    assert list(portals.domains()) == [DOMAIN, OTHER]


async def test_a_removed_portal_is_unknown(
    session: aiohttp.ClientSession, make_settings: SettingsFactory
) -> None:
    portals = portals_for(session, make_settings())
    assert portals.remove(DOMAIN) is True
    assert portals.remove(DOMAIN) is False
    with pytest.raises(BadInput) as caught:
        portals.get(DOMAIN)
    assert caught.value.reason == "unknown_portal"
