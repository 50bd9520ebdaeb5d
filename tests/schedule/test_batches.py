"""Ticks handled in batches, against the real broker and both store backends: one
statement fires a whole batch, a tick named twice in a batch fires once, a stale generation
inside a batch is dropped, and a stop cuts a batch cleanly (the one under way finishes, its
transaction is not cancelled; the ticks collected for the next one go back to the queue)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import aio_pika
import pytest
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractQueue

from tests.amqp_helpers import AMQP_URL, broker, unique_prefix
from tests.runtime.conftest import runtime_settings
from tests.schedule.conftest import remove_schedule
from worker.adapters.amqp.topology import Names, declare_schedule
from worker.adapters.store import SqlStore
from worker.runtime.wiring import topology_spec
from worker.schedule.outbox import Outbox
from worker.schedule.scan import Cadences
from worker.schedule.tick import BadTick, Tick, message, parse_all
from worker.schedule.ticks import TickBatches, TickHandler
from worker.store import Firing
from worker.store.ports import UnitOfWork

T0 = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
INTERVAL = 300.0


def test_a_bundle_reads_back_and_a_single_tick_still_reads() -> None:
    ticks = [Tick("a.example", 3, 100.0), Tick("b.example", 1, 100.25)]
    assert parse_all(message(ticks).body) == ticks
    assert parse_all(message(ticks[:1]).body) == ticks[:1]
    assert message(ticks[:1]).message_id == "tick:3:a.example"  # the format before bundles
    old = b'{"portal": "a.example", "generation": 3, "due": 100}'
    assert parse_all(old) == [Tick("a.example", 3, 100.0)]
    for bad in (
        b'{"ticks": []}',
        b'{"ticks": {"portal": "a.example"}}',
        b'{"ticks": [{"portal": "a.example", "generation": 0, "due": 1}]}',
        json.dumps({"ticks": [{"portal": "a", "generation": 1, "due": 1}] * 257}).encode(),
        b"[]",
    ):
        with pytest.raises(BadTick):
            parse_all(bad)


async def test_fire_many_moves_each_expected_pair_once(store: SqlStore) -> None:
    async with store.unit_of_work() as uow:
        for portal in ("a.example", "b.example", "c.example"):
            await uow.schedule.arm(portal, expected=None, due_at=T0, interval=60.0)
        await uow.schedule.arm("c.example", expected=1, due_at=T0, interval=60.0)  # now 2
        await uow.commit()
    later = T0 + timedelta(minutes=5)
    async with store.unit_of_work() as uow:
        fired = await uow.schedule.fire_many(
            [
                Firing("A.example", 1, later, 300.0),
                Firing("a.example", 1, later, 300.0),  # the same tick twice in the batch
                Firing("b.example", 1, later + timedelta(seconds=1), 120.0),
                Firing("c.example", 1, later, 60.0),  # stale: c is at 2
                Firing("c.example", 2, later + timedelta(seconds=2), 60.0),
                Firing("d.example", 1, later, 60.0),  # no row
            ],
            fired_at=T0,
        )
        await uow.commit()
    assert fired == {("a.example", 1), ("b.example", 1), ("c.example", 2)}
    async with store.unit_of_work(readonly=True) as uow:
        rows = {r.portal: r for r in await uow.schedule.all()}
        assert await uow.schedule.fire_many([], fired_at=T0) == set()
    assert set(rows) == {"a.example", "b.example", "c.example"}
    assert (rows["a.example"].generation, rows["a.example"].due_at) == (2, later)
    assert rows["a.example"].interval == 300.0
    assert (rows["b.example"].generation, rows["b.example"].interval) == (2, 120.0)
    assert rows["b.example"].due_at == later + timedelta(seconds=1)
    assert (rows["c.example"].generation, rows["c.example"].due_at) == (
        3,
        later + timedelta(seconds=2),
    )
    assert all(r.fired_at == T0 for r in rows.values())


async def test_two_stores_firing_one_batch_at_once_fire_each_tick_once(store: SqlStore) -> None:
    portals = [f"p{n}.example" for n in range(40)]
    async with store.unit_of_work() as uow:
        for portal in portals:
            await uow.schedule.arm(portal, expected=None, due_at=T0, interval=60.0)
        await uow.commit()

    async def fire() -> set[tuple[str, int]]:
        async with store.unit_of_work() as uow:
            fired = await uow.schedule.fire_many(
                [Firing(p, 1, T0 + timedelta(minutes=1), 60.0) for p in portals], fired_at=T0
            )
            await uow.commit()
            return fired

    results = await asyncio.gather(*(fire() for _ in range(4)), return_exceptions=True)
    won = [r for r in results if isinstance(r, set)]
    assert sum(len(r) for r in won) == len(portals), results  # each tick fired once in all
    assert set().union(*won) == {(p, 1) for p in portals}


@dataclass
class Rig:
    connection: aio_pika.abc.AbstractConnection
    channel: AbstractChannel
    ticks: AbstractQueue
    names: Names
    handler: TickHandler
    fired: list[bool]

    async def put(self, *bodies: bytes) -> None:
        for body in bodies:
            await self.channel.default_exchange.publish(
                aio_pika.Message(body), routing_key=self.names.schedule_ticks
            )

    async def take(self, n: int) -> list[AbstractIncomingMessage]:
        found = []
        while len(found) < n:
            message = await self.ticks.get(no_ack=False, fail=False, timeout=5)
            if message is None:
                await asyncio.sleep(0.05)
                continue
            found.append(message)
        return found

    async def reopen(self) -> None:
        """Close the channel (what it holds unacked goes back to its queue); open another."""
        await self.channel.close()
        self.channel = await self.connection.channel()

    async def count(self, queue: str) -> int:
        declared = await self.channel.declare_queue(queue, passive=True)
        return declared.declaration_result.message_count or 0

    async def count_settled(self, queue: str, expected: int, limit: float = 5.0) -> int:
        """The queue's count once it reaches ``expected`` (or after ``limit`` seconds): a
        quorum queue takes back what a closed channel held unacked a moment after the close
        returns."""
        deadline = asyncio.get_running_loop().time() + limit
        while (count := await self.count(queue)) != expected:
            if asyncio.get_running_loop().time() > deadline:
                break
            await asyncio.sleep(0.05)
        return count


class _SlowStore:
    """The store, holding every write transaction open for ``hold`` seconds (and saying so)."""

    def __init__(self, store: SqlStore, hold: float) -> None:
        self._store, self._hold = store, hold
        self.entered = asyncio.Event()
        self.committed = 0

    @asynccontextmanager
    async def unit_of_work(self, *, readonly: bool = False) -> AsyncIterator[UnitOfWork]:
        async with self._store.unit_of_work(readonly=readonly) as uow:
            if not readonly:
                self.entered.set()
                await asyncio.sleep(self._hold)
            yield uow
            if not readonly:
                self.committed += 1


@asynccontextmanager
async def rig(store: object, portals: dict[str, float]) -> AsyncIterator[Rig]:
    prefix = unique_prefix("batches")
    settings = runtime_settings(prefix)
    names = Names(prefix)
    async with broker(prefix, topology_spec(settings)):
        connection = await aio_pika.connect(AMQP_URL)
        try:
            channel = await connection.channel(publisher_confirms=True)
            ticks = await declare_schedule(channel, names)
            commands = await channel.get_exchange(names.commands_exchange)
            outbox = Outbox(channel=channel, names=names, commands=commands)
            fired: list[bool] = []

            class Observer:
                def sweep_scheduled(self, *, late: bool) -> None:
                    fired.append(late)

            async def refresh() -> None:
                pass

            handler = TickHandler(
                store=store,  # type: ignore[arg-type]
                outbox=outbox,
                cadences=Cadences(default=INTERVAL, wanted=dict(portals)),
                clock=T0.timestamp,
                refresh=refresh,
                observer=Observer(),
                window=10.0,
            )
            yield Rig(connection, channel, ticks, names, handler, fired)
        finally:
            await connection.close()
            await remove_schedule(names)


def _body(portal: str, generation: int, due: datetime = T0) -> bytes:
    return json.dumps({"portal": portal, "generation": generation, "due": due.timestamp()}).encode()


async def _armed(store: SqlStore, *portals: str, generation: int = 1) -> None:
    async with store.unit_of_work() as uow:
        for portal in portals:
            await uow.schedule.arm(portal, expected=None, due_at=T0, interval=INTERVAL)
            for expected in range(1, generation):
                await uow.schedule.arm(portal, expected=expected, due_at=T0, interval=INTERVAL)
        await uow.commit()


async def _generations(store: SqlStore) -> dict[str, int]:
    async with store.unit_of_work(readonly=True) as uow:
        return {r.portal: r.generation for r in await uow.schedule.all()}


async def test_one_batch_fires_each_tick_once_and_drops_duplicates_and_stale_ones(
    store: SqlStore,
) -> None:
    await _armed(store, "a.example", "b.example", generation=3)
    await _armed(store, "c.example")
    async with rig(store, {p: INTERVAL for p in ("a.example", "b.example", "c.example")}) as r:
        await r.put(
            _body("a.example", 3),
            _body("a.example", 3),  # a copy of the same tick
            _body("a.example", 2),  # a stale generation of the same portal
            _body("b.example", 1),  # stale
            b"not a tick",
            _body("c.example", 1),
            _body("a.example", 3),
            _body("c.example", 1, T0 + timedelta(seconds=100)),  # not due: waits on
        )
        batch = [r.handler.read(m)[0] for m in await r.take(8)]
        await r.handler.handle(batch)
        assert await _generations(store) == {"a.example": 4, "b.example": 3, "c.example": 2}
        assert len(r.fired) == 2
        assert await r.count(r.names.commands_queue) == 2  # one portal.sweep each for a and c
        # every delivery settled: nothing comes back to the tick queue when the channel closes
        assert await r.ticks.get(no_ack=False, fail=False) is None
        await r.reopen()
        assert await r.count(r.names.schedule_ticks) == 0
        # the next ticks of a and c, due together, wait in the interval queue in one bundle
        waiting = await r.channel.declare_queue(r.names.schedule_wait(INTERVAL), passive=True)
        bundle = await waiting.get(no_ack=True, fail=False)
        assert bundle is not None
        assert bundle.message_id == "ticks:2:4:a.example"
        assert {(t.portal, t.generation) for t in parse_all(bundle.body)} == {
            ("a.example", 4),
            ("c.example", 2),
        }
        assert await waiting.get(no_ack=True, fail=False) is None
        sweeps = await r.channel.declare_queue(r.names.commands_queue, passive=True)
        ids = set()
        while (message := await sweeps.get(no_ack=True, fail=False)) is not None:
            ids.add(message.message_id)
        assert ids == {"schedule:3:a.example", "schedule:1:c.example"}


async def test_a_failed_store_rejects_the_batch_for_a_retry(store: SqlStore) -> None:
    await _armed(store, "a.example")

    class Broken:
        def unit_of_work(self, *, readonly: bool = False) -> object:
            raise ConnectionError("store away")

    async with rig(Broken(), {"a.example": INTERVAL}) as r:
        await r.put(_body("a.example", 1))
        batch = [r.handler.read(m)[0] for m in await r.take(1)]
        await r.handler.handle(batch)
        (again,) = await r.take(1)  # requeued once
        assert again.redelivered
        await r.handler.handle([r.handler.read(again)[0]])  # dropped the second time
        assert await r.ticks.get(no_ack=False, fail=False) is None
    assert await _generations(store) == {"a.example": 1}


async def test_a_stop_lets_the_batch_under_way_commit_and_returns_the_next_one(
    store: SqlStore,
) -> None:
    await _armed(store, "a.example", "b.example", "c.example")
    slow = _SlowStore(store, hold=0.5)
    portals = {p: INTERVAL for p in ("a.example", "b.example", "c.example")}
    async with rig(slow, portals) as r:
        batches = TickBatches(r.handler, limit=1)  # a batch of one: handled at once
        await r.put(_body("a.example", 1), _body("b.example", 1), _body("c.example", 1))
        first, *rest = await r.take(3)
        await batches(first)
        await asyncio.wait_for(slow.entered.wait(), timeout=5)  # a's transaction is open
        for message in rest:
            await batches(message)  # collected for the next batches
        await batches.drain(grace=5.0)
        assert slow.committed == 1  # the transaction under way was not cancelled
        assert await _generations(store) == {"a.example": 2, "b.example": 1, "c.example": 1}
        assert r.fired == [False]
        await r.reopen()  # b's and c's ticks, never handled, go back to the queue
        assert await r.count_settled(r.names.schedule_ticks, 2) == 2
        assert await r.count(r.names.commands_queue) == 1


async def test_each_tick_of_a_bundle_is_fired_or_dropped_on_its_own(store: SqlStore) -> None:
    await _armed(store, "a.example", "b.example", "c.example")
    await _armed(store, "d.example", generation=2)
    portals = {p: INTERVAL for p in ("a.example", "b.example", "c.example", "d.example")}
    async with rig(store, portals) as r:
        soon = T0 + timedelta(seconds=0.3)  # within the span: fires with the others
        later = T0 + timedelta(seconds=40)  # not due: waits on, in a hop
        bundle = message(
            [
                Tick("a.example", 1, T0.timestamp()),
                Tick("b.example", 1, soon.timestamp()),
                Tick("c.example", 1, later.timestamp()),
                Tick("d.example", 1, T0.timestamp()),  # stale: d is at 2
            ]
        )
        await r.channel.default_exchange.publish(bundle, routing_key=r.names.schedule_ticks)
        await r.put(_body("a.example", 1))  # a copy of a's tick, outside the bundle
        batch = [r.handler.read(m)[0] for m in await r.take(2)]
        await r.handler.handle(batch)
        assert await _generations(store) == {
            "a.example": 2,
            "b.example": 2,
            "c.example": 1,
            "d.example": 2,
        }
        assert len(r.fired) == 2
        assert await r.count(r.names.commands_queue) == 2
        await r.reopen()
        assert await r.count(r.names.schedule_ticks) == 0  # both deliveries acked
        assert await r.count(r.names.schedule_wait(INTERVAL)) == 1  # a's and b's next, bundled
        assert await r.count(r.names.schedule_hop(32.0)) == 1  # c's, waiting on


async def test_ticks_of_a_short_interval_are_never_bundled(store: SqlStore) -> None:
    """At 2 s the span is no more than EARLY: every tick keeps a message of its own (what
    the schedule's other tests count)."""
    await _armed(store, "a.example", "b.example")
    async with rig(store, {"a.example": 2.0, "b.example": 2.0}) as r:
        await r.put(_body("a.example", 1), _body("b.example", 1))
        batch = [r.handler.read(m)[0] for m in await r.take(2)]
        await r.handler.handle(batch)
        assert len(r.fired) == 2
        await r.reopen()
        assert await r.count(r.names.schedule_wait(2.0)) == 2
