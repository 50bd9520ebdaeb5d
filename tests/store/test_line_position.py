"""The projection's bookkeeping in the lines repository: its stream position and the last
sweep, kept in the same unit of work as the rows and never moved back."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from worker.adapters.store import SqlStore
from worker.store import LineChange

T0 = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
S = "sipline.events.log"


async def test_position_moves_forward_only_and_commits_with_the_rows(store: SqlStore) -> None:
    async with store.unit_of_work(readonly=True) as uow:
        assert await uow.lines.position(S) is None
    async with store.unit_of_work() as uow:
        await uow.lines.advance(S, 41)
        await uow.lines.advance(S, 7)  # a projector that lags: the position stays
        await uow.commit()
    async with store.unit_of_work() as uow:
        await uow.lines.apply(LineChange("e-1", T0, "p.test", 3, "created", title="A"))
        await uow.lines.advance(S, 42)
        # left without commit: neither the row nor the position is kept
    async with store.unit_of_work(readonly=True) as uow:
        assert await uow.lines.position(S) == 41
        assert await uow.lines.get("p.test", 3) is None
    async with store.unit_of_work() as uow:
        await uow.lines.advance(S, 10**12)
        await uow.commit()
    async with store.unit_of_work(readonly=True) as uow:
        assert await uow.lines.position(S) == 10**12


async def test_each_stream_has_its_own_position_however_long_its_name(store: SqlStore) -> None:
    long_name = "x" * 200 + ".events.log"
    async with store.unit_of_work() as uow:
        await uow.lines.advance(S, 3)
        await uow.lines.advance("other.events.log", 9)
        await uow.lines.advance(long_name, 12)
        await uow.commit()
    async with store.unit_of_work() as uow:
        assert await uow.lines.position(S) == 3
        assert await uow.lines.position("other.events.log") == 9
        assert await uow.lines.position(long_name) == 12
        assert await uow.lines.position("x" * 199 + ".events.log") is None
        await uow.lines.clear()
        assert await uow.lines.position(long_name) is None
        assert await uow.lines.position("other.events.log") is None


async def test_last_sweep_keeps_the_latest_and_clear_forgets_everything(store: SqlStore) -> None:
    later = T0 + timedelta(minutes=5, microseconds=250)
    async with store.unit_of_work() as uow:
        assert await uow.lines.last_sweep() is None
        await uow.lines.note_sweep("B.test", later)
        await uow.lines.note_sweep("a.test", T0)  # earlier: ignored
        await uow.lines.advance(S, 5)
        await uow.lines.apply(LineChange("e-1", T0, "p.test", 3, "created", title="A"))
        await uow.commit()
    async with store.unit_of_work(readonly=True) as uow:
        assert await uow.lines.last_sweep() == ("b.test", later)
    async with store.unit_of_work() as uow:
        await uow.lines.clear()
        await uow.commit()
    async with store.unit_of_work(readonly=True) as uow:
        assert await uow.lines.last_sweep() is None
        assert await uow.lines.position(S) is None
        assert await uow.lines.list(include_deleted=True) == []


def _mixed_changes() -> list[LineChange]:
    """Creates, verdict flips, deletes, an event repeated, one older than its line's last."""
    rng = random.Random(7)
    verdicts = ["in_sync", "config_drift", "registration_failed"]
    out: list[LineChange] = []
    for n in range(1, 9):
        out.append(LineChange(f"c-{n}", T0, "P.test", n, "created", command_id=f"k{n}",
                              title=f"t{n}", line_type="cloud", reg_id=n))  # fmt: skip
    for step in range(1, 120):
        config_id = rng.randint(1, 9)  # 9 has no create: a row made by a verdict alone
        at = T0 + timedelta(seconds=step - (5 if step % 17 == 0 else 0))
        if step % 23 == 0:
            out.append(LineChange(f"e-{step}", at, "p.test", config_id, "deleted"))
        else:
            out.append(LineChange(f"e-{step}", at, "p.test", config_id, "reconciled",
                                  verdict=rng.choice(verdicts), findings=[f"f{step}"]))  # fmt: skip
        if step % 11 == 0:
            out.append(out[rng.randrange(len(out))])  # a redelivery
    return out


async def test_apply_many_ends_where_applying_one_by_one_does(store: SqlStore) -> None:
    changes = _mixed_changes()
    async with store.unit_of_work() as uow:
        one_by_one = sum([await uow.lines.apply(c) for c in changes])
        expected = await uow.lines.list(include_deleted=True)
        await uow.lines.clear()
        batched = 0
        for at in range(0, len(changes), 13):
            batched += await uow.lines.apply_many(changes[at : at + 13])
        assert await uow.lines.apply_many(changes) == 0  # all applied before
        assert await uow.lines.list(include_deleted=True) == expected
        await uow.commit()
    assert batched == one_by_one
    assert len(expected) == 9


async def test_create_records_many_at_once_keep_the_first_of_each_command(
    store: SqlStore,
) -> None:
    async with store.unit_of_work() as uow:
        assert await uow.creates.record("k1", portal="p.test", config_id=1) is True
        new = await uow.creates.record_many(
            [("k1", "p.test", 99), ("k2", "P.test", 2), ("k2", "p.test", 98), ("k3", "q.test", 3)]
        )
        assert new == 2
        assert await uow.creates.record_many([]) == 0
        await uow.commit()
    async with store.unit_of_work(readonly=True) as uow:
        assert await uow.creates.find("k1") == ("p.test", 1)
        assert await uow.creates.find("k2") == ("p.test", 2)
        assert await uow.creates.find("k3") == ("q.test", 3)
