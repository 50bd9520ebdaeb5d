"""The registry of portals: one gateway per portal, changed or removed one portal at a time."""

from __future__ import annotations

import json

import aiohttp
import pytest
from pydantic import ValidationError

from tests.bitrix24.conftest import DOMAIN, SettingsFactory, portals_for
from worker.domain.repair import PortalPolicy
from worker.errors import BadInput
from worker.sandbox.portal import SandboxPortal
from worker.settings import PortalSettings, Settings

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


async def test_a_portal_s_repair_policy_changes_without_a_new_client(
    session: aiohttp.ClientSession, make_settings: SettingsFactory
) -> None:
    portals = portals_for(session, make_settings())
    assert portals.policy(DOMAIN) == PortalPolicy()  # nothing said: observe, budget 3
    assert portals.policy("unknown.bitrix24.test") == PortalPolicy()
    mine = portals.get(DOMAIN)
    config = mine.client.config
    repaired = PortalSettings.model_validate(
        config.model_dump()
        | {"repair_policy": "repair", "repair_budget": 5, "owns_voximplant_account": True}
    )
    assert portals.upsert(DOMAIN, repaired) is True
    assert portals.get(DOMAIN) is mine  # the client and its bucket stay
    assert portals.policy(DOMAIN) == PortalPolicy(
        mode="repair", budget=5, owns_voximplant_account=True
    )


def test_sipline_portals_entries_take_the_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "SIPLINE_PORTALS",
        json.dumps(
            {
                DOMAIN: {
                    "webhook_url": f"https://{DOMAIN}/rest/1/code/",
                    "repair_policy": "repair",
                    "repair_budget": 0,
                    "owns_voximplant_account": True,
                }
            }
        ),
    )
    entry = Settings().portals[DOMAIN]
    assert (entry.repair_policy, entry.repair_budget, entry.owns_voximplant_account) == (
        "repair",
        0,
        True,
    )
    with pytest.raises(ValidationError):
        PortalSettings.model_validate(
            {"webhook_url": f"https://{DOMAIN}/rest/1/code/", "repair_policy": "fix"}
        )
