"""The repair ledger in the store, on both backends: one budget per line shared by every
process (and every restart), concurrent spenders taking turns, notes handed over once."""

from __future__ import annotations

import asyncio

from contracts import Verdict
from tests.store.conftest import Backend
from worker.adapters.store import SqlStore, open_store
from worker.domain.repair import RepairNote
from worker.store.repairs import MemoryRepairLedger, StoreRepairLedger

PORTAL = "Example.Bitrix24.ru"
NOW = 1_800_000_000.0


def note(at: float = NOW) -> RepairNote:
    return RepairNote(
        verdict=Verdict.CONFIG_DRIFT,
        findings=("Voximplant registers with proxy x, the line's server is y",),
        server="sip.example.net",
        login="100200",
        fields=("server", "login"),
        at=at,
        budget=2,
    )


async def test_the_budget_holds_across_ledgers_sharing_the_store(
    store: SqlStore, backend: Backend
) -> None:
    first = StoreRepairLedger(store=store)
    assert (await first.spend(PORTAL, 42, now=NOW, budget=2, note=note())).used == 1
    async with open_store(backend.settings()) as other:  # another process, or a restart
        second = StoreRepairLedger(store=other)
        granted = await second.spend(PORTAL, 42, now=NOW + 10, budget=2, note=note(NOW + 10))
        assert (granted.granted, granted.used) == (True, 2)
        refused = await second.spend(PORTAL, 42, now=NOW + 20, budget=2, note=note(NOW + 20))
        assert (refused.granted, refused.used, refused.free_at) == (False, 2, NOW + 3600)
        # another line, another budget
        assert (await second.spend(PORTAL, 43, now=NOW, budget=2, note=note())).granted
    later = await first.spend(PORTAL, 42, now=NOW + 3600, budget=2, note=note(NOW + 3600))
    assert (later.granted, later.used) == (True, 2)  # the first repair left the window


async def test_a_note_is_handed_over_once_with_its_count(store: SqlStore) -> None:
    ledger = StoreRepairLedger(store=store)
    assert await ledger.settle(PORTAL, [42], now=NOW) == {}
    await ledger.spend(PORTAL, 42, now=NOW, budget=3, note=note())
    await ledger.spend(PORTAL, 42, now=NOW + 1, budget=3, note=note(NOW + 1))
    found = await ledger.settle(PORTAL.lower(), [41, 42], now=NOW + 5)
    assert list(found) == [42]
    assert (found[42].used, found[42].at, found[42].fields) == (2, NOW + 1, ("server", "login"))
    assert found[42].verdict is Verdict.CONFIG_DRIFT
    assert await ledger.settle(PORTAL, [42], now=NOW + 6) == {}  # handed over once


async def test_a_stale_note_is_dropped(store: SqlStore) -> None:
    ledger = StoreRepairLedger(store=store)
    await ledger.spend(PORTAL, 42, now=NOW, budget=3, note=note())
    assert await ledger.settle(PORTAL, [42], now=NOW + 3600) == {}


async def test_concurrent_spenders_never_exceed_the_budget(
    store: SqlStore, backend: Backend
) -> None:
    async with open_store(backend.settings()) as other:
        ledgers = [StoreRepairLedger(store=store), StoreRepairLedger(store=other)]
        answers = await asyncio.gather(
            *(
                ledgers[i % 2].spend(PORTAL, 7, now=NOW + i, budget=3, note=note(NOW + i))
                for i in range(8)
            )
        )
    assert sum(a.granted for a in answers) == 3


async def test_the_memory_ledger_keeps_the_same_rules() -> None:
    ledger = MemoryRepairLedger()
    answers = [await ledger.spend(PORTAL, 42, now=NOW + i, budget=2, note=note()) for i in range(3)]
    assert [a.granted for a in answers] == [True, True, False]
    assert (await ledger.settle(PORTAL, [42], now=NOW + 3))[42].used == 2
    assert await ledger.settle(PORTAL, [42], now=NOW + 3) == {}


async def test_a_sweep_sized_settle_reads_every_note(store: SqlStore) -> None:
    ledger = StoreRepairLedger(store=store)
    await ledger.spend(PORTAL, 1234, now=NOW, budget=3, note=note())
    found = await ledger.settle(PORTAL, range(1, 2001), now=NOW + 1)  # more than one chunk
    assert list(found) == [1234]
