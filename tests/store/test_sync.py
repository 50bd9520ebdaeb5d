"""The registry sync: the store's changes reach a process's portal registry (a fake of that
port here; the real store on both backends)."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from pydantic import SecretStr

from worker.adapters.store import SqlStore
from worker.settings import PortalSettings
from worker.store import PortalRecord
from worker.store.sync import RegistrySync


class Sink:
    def __init__(self, initial: dict[str, PortalSettings]) -> None:
        self.portals = dict(initial)
        self.calls: list[tuple[str, str]] = []

    def upsert(self, portal: str, config: PortalSettings) -> bool:
        self.calls.append(("upsert", portal))
        self.portals[portal] = config
        return True

    def remove(self, portal: str) -> bool:
        self.calls.append(("remove", portal))
        return self.portals.pop(portal, None) is not None


def hook(domain: str, code: str = "code") -> PortalRecord:
    return PortalRecord(
        domain=domain, auth="webhook", webhook_url=SecretStr(f"https://{domain}/rest/1/{code}/")
    )


async def test_adds_changes_and_removals_reach_the_sink(store: SqlStore) -> None:
    env_only = PortalSettings(webhook_url=SecretStr("https://env.test/rest/1/e/"))
    shadowed = PortalSettings(webhook_url=SecretStr("https://both.test/rest/1/env/"))
    static = {"env.test": env_only, "both.test": shadowed}
    sink = Sink(static)
    sync = RegistrySync(store=store, sink=sink, static=static)

    assert await sync.sync_once() is False  # an empty registry: the environment as it is
    assert await sync.sync_once() is False  # nothing moved: not even a read of the portals

    async with store.unit_of_work() as uow:
        await uow.portals.add(hook("new.test"))
        await uow.portals.add(hook("both.test", "stored"))
        await uow.commit()
    assert await sync.sync_once() is True
    assert set(sink.portals) == {"env.test", "both.test", "new.test"}
    stored_hook = sink.portals["both.test"].webhook_url
    assert stored_hook is not None
    assert stored_hook.get_secret_value() == "https://both.test/rest/1/stored/"  # store wins

    sink.calls.clear()
    async with store.unit_of_work() as uow:
        new = await uow.portals.get("new.test")
        assert new is not None
        await uow.portals.update(replace(new, plan="enterprise"))
        await uow.commit()
    assert await sync.sync_once() is True
    assert sink.calls == [("upsert", "new.test")]  # only the changed portal
    assert sink.portals["new.test"].bucket() == (250, 5.0)

    async with store.unit_of_work() as uow:
        new = await uow.portals.get("new.test")
        assert new is not None
        policy = {"repair_policy": "repair", "repair_budget": 1, "owns_voximplant_account": True}
        await uow.portals.update(replace(new, **policy))  # type: ignore[arg-type]
        await uow.commit()
    assert await sync.sync_once() is True
    assert sink.portals["new.test"].model_dump(include=set(policy)) == policy

    sink.calls.clear()
    async with store.unit_of_work() as uow:
        both = await uow.portals.get("both.test")
        assert both is not None
        await uow.portals.update(replace(both, enabled=False))
        await uow.portals.remove("new.test")
        await uow.commit()
    assert await sync.sync_once() is True
    assert sorted(sink.calls) == [("remove", "both.test"), ("remove", "new.test")]
    assert set(sink.portals) == {"env.test"} == sync.served


async def test_an_oauth_portal_is_served_once_it_has_tokens(store: SqlStore) -> None:
    sink = Sink({})
    sync = RegistrySync(store=store, sink=sink, static={})
    async with store.unit_of_work() as uow:
        await uow.portals.add(
            PortalRecord(
                domain="app.test",
                auth="oauth",
                client_id="local.1",
                client_secret=SecretStr("s"),
                rest_url="https://app.test/rest/",
            )
        )
        await uow.commit()
    await sync.sync_once()
    assert sink.portals == {}
    async with store.unit_of_work() as uow:
        await uow.tokens.put(
            "app.test", access_token=SecretStr("a"), refresh_token=SecretStr("r"), expires_at=None
        )
        await uow.commit()  # a portal's first pair moves the revision
    await sync.sync_once()
    config = sink.portals["app.test"].oauth
    assert config is not None
    assert config.refresh_token.get_secret_value() == "r"
    assert str(config.rest_url) == "https://app.test/rest/"


async def test_running_picks_a_new_portal_up_within_the_interval(store: SqlStore) -> None:
    sink = Sink({})
    sync = RegistrySync(store=store, sink=sink, static={}, interval=0.1)
    async with sync.running():
        async with store.unit_of_work() as uow:
            await uow.portals.add(hook("late.test"))
            await uow.commit()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5
        while "late.test" not in sink.portals:
            assert loop.time() < deadline, "not picked up within 5 s"
            await asyncio.sleep(0.02)
