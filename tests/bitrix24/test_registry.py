"""The registry of portals: one gateway per portal, changed or removed one portal at a time."""

from __future__ import annotations

import json
import tracemalloc

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


async def test_a_portal_costs_little_until_its_first_command(
    session: aiohttp.ClientSession, make_settings: SettingsFactory
) -> None:
    """Registering 2,000 portals builds no client (built on first use): a worker holding
    10,000 registered portals must stay within +50 MiB (docs/performance.md)."""
    portals = portals_for(session, make_settings())
    config = portals.get(DOMAIN).client.config
    configs = [
        PortalSettings.model_validate(
            config.model_dump() | {"webhook_url": f"https://p{n}.test/rest/1/c{n}/"}
        )
        for n in range(2000)
    ]
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for n, each in enumerate(configs):
            portals.upsert(f"p{n}.bitrix24.test", each)
        held = tracemalloc.get_traced_memory()[0] - before
        first = portals.get("p7.bitrix24.test")  # the first command builds its client
        built = tracemalloc.get_traced_memory()[0] - before - held
    finally:
        tracemalloc.stop()
    assert held / len(configs) < 400, held  # the entry alone: bytes, not a client
    assert built > 1000  # a client (its limiter, auth, transport) is the bigger part
    assert portals.get("p7.bitrix24.test") is first
    assert first.client.config.webhook_url == configs[7].webhook_url
