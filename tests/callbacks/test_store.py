"""What the callback route asks of the store, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from datetime import timedelta

from tests.projection.events import T0, created, deleted, later
from tests.status.fixtures import fill
from worker.adapters.store import SqlStore


async def test_lines_are_found_by_their_registration(store: SqlStore) -> None:
    await fill(
        store,
        [
            created("beta.test", 2, "b-two"),  # reg 1002
            created("alpha.test", 2, "a-two"),  # reg 1002 too: another portal's line
            created("alpha.test", 3, "a-three"),  # reg 1003
            created("alpha.test", 4, "a-four"),  # reg 1004, deleted below
            deleted("alpha.test", 4, at=later(1)),
        ],
    )
    async with store.unit_of_work(readonly=True) as uow:
        found = await uow.lines.by_reg_ids([1002, 1003, 1004, 1002, 9999])
        assert [(line.portal, line.config_id, line.reg_id) for line in found] == [
            ("alpha.test", 2, 1002),
            ("alpha.test", 3, 1003),
            ("beta.test", 2, 1002),
        ]
        assert await uow.lines.by_reg_ids([]) == []
        assert await uow.lines.by_reg_ids([1004]) == []  # deleted lines are not named


async def test_seen_callbacks_are_told_apart_by_account(store: SqlStore) -> None:
    async with store.unit_of_work() as uow:
        assert await uow.callbacks.remember(7, "1") is True
        assert await uow.callbacks.remember(7, "2") is True
        await uow.commit()
    async with store.unit_of_work(readonly=True) as uow:
        assert await uow.callbacks.seen(7, ["1", "2", "3", "1"]) == {"1", "2"}
        assert await uow.callbacks.seen(8, ["1", "2"]) == set()
        assert await uow.callbacks.seen(7, []) == set()


async def test_the_last_callback_per_portal_only_moves_forward(store: SqlStore) -> None:
    async with store.unit_of_work() as uow:
        await uow.callbacks.note_portal("Alpha.test", T0)
        await uow.callbacks.note_portal("beta.test", T0 + timedelta(seconds=5))
        await uow.commit()
    async with store.unit_of_work() as uow:
        await uow.callbacks.note_portal("alpha.test", T0 + timedelta(seconds=10))
        await uow.callbacks.note_portal("beta.test", T0)  # older: kept as it was
        await uow.commit()
    async with store.unit_of_work(readonly=True) as uow:
        assert await uow.callbacks.last_by_portal() == {
            "alpha.test": T0 + timedelta(seconds=10),
            "beta.test": T0 + timedelta(seconds=5),
        }
    async with store.unit_of_work() as uow:
        await uow.callbacks.note_portal("alpha.test", T0)  # rolled back: never committed
    async with store.unit_of_work(readonly=True) as uow:
        assert (await uow.callbacks.last_by_portal())["alpha.test"] == T0 + timedelta(seconds=10)
