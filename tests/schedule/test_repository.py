"""The schedule's table on both backends: every change is a compare-and-set on the
generation, so of several processes arming or firing one portal, exactly one wins."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from pydantic import SecretStr

from tests.store.conftest import Backend
from worker.adapters.store import SqlStore, open_store
from worker.store import PortalRecord

T0 = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


async def test_arm_fire_and_stop_are_compare_and_set(store: SqlStore) -> None:
    async with store.unit_of_work() as uow:
        first = await uow.schedule.arm("P.example", expected=None, due_at=T0, interval=60.0)
        assert first is not None
        assert (first.portal, first.generation) == ("p.example", 1)
        assert await uow.schedule.arm("p.example", expected=None, due_at=T0, interval=60.0) is None
        fired = await uow.schedule.fire(
            "p.example", expected=1, due_at=T0 + timedelta(minutes=1), interval=60.0, fired_at=T0
        )
        assert fired is not None
        assert fired.generation == 2
        assert fired.fired_at == T0
        again = await uow.schedule.fire(
            "p.example", expected=1, due_at=T0, interval=60.0, fired_at=T0
        )
        assert again is None  # a duplicate of tick 1
        assert not await uow.schedule.stop("p.example", expected=1)
        assert await uow.schedule.stop("p.example", expected=2)
        await uow.commit()
    async with store.unit_of_work(readonly=True) as uow:
        record = await uow.schedule.get("p.example")
        assert record is not None
        assert record.generation == 3
        assert record.due_at is None
        assert await uow.schedule.overdue(T0 + timedelta(days=1)) == []


async def test_overdue_swept_and_cadences(store: SqlStore) -> None:
    async with store.unit_of_work() as uow:
        await uow.schedule.arm("a.example", expected=None, due_at=T0, interval=10.0)
        await uow.schedule.arm(
            "b.example", expected=None, due_at=T0 + timedelta(hours=1), interval=10.0
        )
        await uow.schedule.note_swept("a.example", T0)
        await uow.schedule.note_swept("a.example", T0 - timedelta(hours=1))  # older: kept
        await uow.schedule.note_swept("c.example", T0)  # swept by hand, never scheduled
        await uow.portals.add(
            PortalRecord(
                domain="a.example",
                auth="webhook",
                webhook_url=SecretStr("https://a.example/rest/1/code/"),
                sweep_interval=5.0,
            )
        )
        await uow.portals.add(
            PortalRecord(
                domain="o.example", auth="oauth", client_id="app", client_secret=SecretStr("s")
            )
        )
        await uow.commit()
    async with store.unit_of_work(readonly=True) as uow:
        overdue = await uow.schedule.overdue(T0 + timedelta(seconds=1))
        assert [r.portal for r in overdue] == ["a.example"]
        assert await uow.schedule.swept() == {"a.example": T0, "c.example": T0}
        cadences = {c.portal: (c.interval, c.served) for c in await uow.schedule.cadences()}
        assert cadences == {"a.example": (5.0, True), "o.example": (None, False)}


async def test_concurrent_arms_of_one_portal_have_one_winner(backend: Backend) -> None:
    settings = backend.settings()
    async with open_store(settings) as one, open_store(settings) as two:

        async def arm(store: SqlStore) -> bool:
            async with store.unit_of_work() as uow:
                won = await uow.schedule.arm("race.example", expected=None, due_at=T0, interval=1.0)
                await uow.commit()
                return won is not None

        results = await asyncio.gather(*(arm(s) for s in (one, two, one, two)))
        assert sorted(results) == [False, False, False, True]

        async def fire(store: SqlStore) -> bool:
            async with store.unit_of_work() as uow:
                won = await uow.schedule.fire(
                    "race.example", expected=1, due_at=T0, interval=1.0, fired_at=T0
                )
                await uow.commit()
                return won is not None

        results = await asyncio.gather(*(fire(s) for s in (one, two, one, two)))
        assert sorted(results) == [False, False, False, True]
