"""The audit trail end to end: the real worker and sandbox write it, a later reader reads it."""

from __future__ import annotations

import asyncio
import json
import math
from datetime import UTC, datetime, timedelta

from tests.amqp_helpers import wait_for
from tests.e2e.conftest import PORTAL, Stack
from tests.ops_events.conftest import (
    bodies,
    log_of,
    read_all,
    rest_of_scenario,
    run_scenario,
    settled,
)
from worker.ops.events import EventFilter, LoggedEvent, StreamReader


async def test_every_event_written_is_found_again_in_order(stack: Stack) -> None:
    await run_scenario(stack)
    tapped = stack.broker.events.bodies()
    assert len(tapped) == 7, [e["type"] for e in tapped]

    records = await read_all(stack.broker)

    assert bodies(records) == tapped  # same events, same order, no extras
    offsets = [r.offset for r in records]
    assert offsets == list(range(offsets[0], offsets[0] + len(offsets)))
    assert all(LoggedEvent.parse(r.offset, r.body).valid for r in records)


async def test_filters(stack: Stack) -> None:
    sc = await run_scenario(stack)
    events = [LoggedEvent.parse(r.offset, r.body) for r in await read_all(stack.broker)]

    def kinds(only: EventFilter) -> list[str | None]:
        return [e.type for e in events if only.matches(e)]

    assert kinds(EventFilter(types=("line.re*",))) == ["line.reconciled"] * 3
    assert kinds(EventFilter(types=("line.deleted", "*.updated"))) == [
        "line.updated",
        "line.deleted",
    ]
    assert len(kinds(EventFilter(portal=PORTAL.upper()))) == 7
    assert kinds(EventFilter(portal="other.example.com")) == []
    assert kinds(EventFilter(line=sc.kept["config_id"])) == [
        "line.created",
        "line.reconciled",
        "line.updated",
        "line.reconciled",
    ]
    assert kinds(EventFilter(line=sc.gone["config_id"], types=("line.*",))) == [
        "line.created",
        "line.reconciled",
        "line.deleted",
    ]
    (drift,) = [e for e in events if EventFilter(verdicts=("config_drift",)).matches(e)]
    assert drift.causationid == sc.reconcile_id
    assert drift.line == sc.kept["config_id"]
    assert kinds(EventFilter(verdicts=("in_sync",))) == ["line.reconciled"] * 2
    assert kinds(EventFilter(correlation_id=sc.update_id)) == ["line.updated"]

    updated = next(e for e in events if e.type == "line.updated")
    assert updated.time is not None
    later = EventFilter(since=updated.time)
    assert kinds(later) == ["line.updated", "line.deleted", "line.reconciled"]
    assert kinds(EventFilter(until=updated.time)) == ["line.created", "line.reconciled"] * 2
    assert kinds(EventFilter(since=updated.time, line=sc.gone["config_id"])) == ["line.deleted"]


async def test_from_an_offset_and_from_a_time(stack: Stack) -> None:
    kept = await settled(stack, "kept")
    gone = await settled(stack, "gone")
    # the broker positions a time by whole seconds: start the rest in a fresh second
    boundary = datetime.fromtimestamp(math.ceil(datetime.now(UTC).timestamp()) + 1, UTC)
    await wait_for(lambda: datetime.now(UTC) >= boundary, limit=5, what="the next second")
    await rest_of_scenario(stack, kept, gone)
    everything = await read_all(stack.broker)
    assert len(everything) == 7

    assert await read_all(stack.broker, start=everything[3].offset) == everything[3:]
    assert await read_all(stack.broker, start=everything[-1].offset + 1) == []
    assert await read_all(stack.broker, start="last") == everything[-1:]

    since = await read_all(stack.broker, start=boundary)
    assert since == everything[4:]
    assert [e["type"] for e in bodies(since)] == [
        "line.updated",
        "line.deleted",
        "line.reconciled",
    ]
    # a time after the last write: the broker waits for new events, the reader ends (settle)
    future = datetime.now(UTC) + timedelta(seconds=5)
    assert await read_all(stack.broker, start=future, settle=0.5) == []


async def test_follow_receives_a_later_event_then_stops_on_cancel(stack: Stack) -> None:
    line = await settled(stack, "followed")
    before = await read_all(stack.broker)
    received: list[LoggedEvent] = []
    reader = StreamReader(
        connection=stack.broker.connection, queue=log_of(stack.broker), start="next", follow=True
    )

    async def follow() -> None:
        async with reader:
            async for record in reader:
                received.append(LoggedEvent.parse(record.offset, record.body))

    task = asyncio.create_task(follow())
    await asyncio.wait_for(reader.attached.wait(), timeout=10)
    delete_id = await stack.send("line.delete", {"config_id": line["config_id"]})

    await wait_for(lambda: len(received) >= 1, what="the followed event")
    assert [(e.type, e.causationid) for e in received] == [("line.deleted", delete_id)]
    assert received[0].offset == before[-1].offset + 1
    assert not task.done(), "a follower does not stop when caught up"

    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=10)
    assert task in done
    assert task.cancelled()
    assert json.loads((await read_all(stack.broker))[-1].body)["causationid"] == delete_id
