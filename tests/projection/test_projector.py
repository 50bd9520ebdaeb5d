"""The projector reads the real event log into the real store (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio

from contracts.events import Event, Verdict
from contracts.examples import EVENTS as EXAMPLES
from tests.amqp_helpers import Broker, wait_for
from tests.projection.conftest import publish
from tests.projection.events import (
    T0,
    created,
    deleted,
    from_a_later_minor,
    later,
    reconciled,
    swept,
    updated,
)
from worker.adapters.store import SqlStore
from worker.projection import Batch, Projector


def projector(b: Broker, store: SqlStore, **kw: object) -> Projector:
    return Projector(
        store=store,
        connection=b.connection,
        stream=b.spec.names.events_log,
        **kw,  # type: ignore[arg-type]
    )


async def test_catch_up_projects_lines_verdicts_deletes_and_sweeps(
    log_broker: Broker, store: SqlStore
) -> None:
    drift = reconciled("a.test", 1, Verdict.CONFIG_DRIFT, at=later(2), findings=["proxy differs"])
    await publish(
        log_broker,
        created("A.test", 1, "one", command_id="cmd-1"),
        reconciled("a.test", 1, Verdict.IN_SYNC, at=later(1)),
        drift,
        drift,  # published twice (a redelivered outcome keeps its id)
        b"\xff not an event",
        created("a.test", 2, "two", command_id="cmd-2"),
        deleted("a.test", 2, at=later(3)),
        swept("a.test", at=later(4)),
    )
    applied = await projector(log_broker, store).catch_up()
    assert applied == 8
    async with store.unit_of_work(readonly=True) as uow:
        one = await uow.lines.get("a.test", 1)
        two = await uow.lines.get("a.test", 2)
        assert await uow.lines.position(log_broker.spec.names.events_log) == 7
        assert await uow.lines.last_sweep() == ("a.test", later(4))
        assert await uow.creates.find("cmd-1") == ("a.test", 1)
    assert one is not None
    assert two is not None
    assert (one.title, one.line_type, one.reg_id) == ("one", "cloud", 1001)
    assert (one.verdict, one.verdict_since, one.last_checked) == (
        "config_drift",
        later(2),
        later(2),
    )
    assert one.findings == ["proxy differs"]
    assert one.last_command_id == "c-check"
    assert two.deleted
    assert two.title == "two"


async def test_events_of_a_later_minor_version_are_projected_not_skipped(
    log_broker: Broker, store: SqlStore
) -> None:
    """A field a later minor version adds inside ``data`` is ignored: the event still moves
    the line (a worker mid rolling upgrade keeps its projection in step)."""
    own = [
        created("n.test", 1, "one", command_id="cmd-n1"),
        updated("n.test", 1, title="renamed", at=later(1)),
        reconciled("n.test", 1, Verdict.CONFIG_DRIFT, at=later(2), findings=["proxy differs"]),
        created("n.test", 2, "two", at=later(3)),
        deleted("n.test", 2, at=later(4)),
        swept("n.test", at=later(5)),
    ]
    events = [*own, *EXAMPLES.values()]  # every event type
    assert {e.MESSAGE_TYPE for e in events} == set(EXAMPLES)
    await publish(log_broker, *(from_a_later_minor(e) for e in events))
    batches: list[Batch] = []
    assert await projector(log_broker, store, on_batch=batches.append).catch_up() == len(events)
    assert sum(b.skipped for b in batches) == 0
    async with store.unit_of_work(readonly=True) as uow:
        one = await uow.lines.get("n.test", 1)
        two = await uow.lines.get("n.test", 2)
        assert await uow.creates.find("cmd-n1") == ("n.test", 1)
        assert await uow.lines.last_sweep() == ("n.test", later(5))
    assert one is not None
    assert two is not None
    assert (one.title, one.verdict, one.findings) == ("renamed", "config_drift", ["proxy differs"])
    assert two.deleted


async def test_a_second_read_resumes_after_the_stored_position(
    log_broker: Broker, store: SqlStore
) -> None:
    await publish(log_broker, created("a.test", 1, "one"))
    assert await projector(log_broker, store).catch_up() == 1
    assert await projector(log_broker, store).catch_up() == 0  # nothing new: nothing re-read
    await publish(log_broker, reconciled("a.test", 1, Verdict.STATUS_MISMATCH, at=later(1)))
    assert await projector(log_broker, store).catch_up() == 1
    async with store.unit_of_work(readonly=True) as uow:
        line = await uow.lines.get("a.test", 1)
    assert line is not None
    assert line.verdict == "status_mismatch"


async def test_rebuild_reads_from_the_first_offset_and_ends_where_it_was(
    log_broker: Broker, store: SqlStore
) -> None:
    await publish(
        log_broker,
        created("a.test", 1, "one"),
        reconciled("a.test", 1, Verdict.IN_SYNC, at=later(1)),
    )
    first = projector(log_broker, store)
    await first.catch_up()
    async with store.unit_of_work() as uow:  # a projection gone wrong (or lost)
        await uow.lines.clear()
        await uow.lines.advance(log_broker.spec.names.events_log, 1)
        await uow.commit()
    assert await projector(log_broker, store).rebuild() == 2
    async with store.unit_of_work(readonly=True) as uow:
        line = await uow.lines.get("a.test", 1)
        assert await uow.lines.position(log_broker.spec.names.events_log) == 1
    assert line is not None
    assert (line.verdict, line.verdict_since) == ("in_sync", later(1))


async def test_following_applies_new_events_and_reports_batches(
    log_broker: Broker, store: SqlStore
) -> None:
    batches: list[Batch] = []
    follower = projector(log_broker, store, on_batch=batches.append)
    task = asyncio.create_task(follower.run())
    try:
        await asyncio.wait_for(follower.attached.wait(), 10)
        await publish(log_broker, *(created("f.test", n, f"l{n}", at=T0) for n in range(1, 51)))
        await wait_for(lambda: follower.position == 49, limit=10, what="50 events projected")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert sum(b.events for b in batches) == 50
    assert [b.first_offset for b in batches] == sorted(b.first_offset for b in batches)
    async with store.unit_of_work(readonly=True) as uow:
        assert len(await uow.lines.list(portal="f.test")) == 50


async def test_two_projectors_at_once_apply_each_event_once(
    log_broker: Broker, store: SqlStore
) -> None:
    events: list[Event] = []
    for n in range(1, 31):
        events.append(created("c.test", n, f"l{n}", at=later(n)))
        events.append(reconciled("c.test", n, Verdict.IN_SYNC, at=later(n + 0.5)))
        events.append(reconciled("c.test", n, Verdict.CONFIG_DRIFT, at=later(n + 0.7)))
    await publish(log_broker, *events)
    counted: list[Batch] = []
    results = await asyncio.gather(
        projector(log_broker, store, on_batch=counted.append, batch_size=7).catch_up(),
        projector(log_broker, store, on_batch=counted.append, batch_size=11).catch_up(),
    )
    assert list(results) == [90, 90]
    assert sum(b.changed for b in counted) == 90  # every event changed the store exactly once
    async with store.unit_of_work(readonly=True) as uow:
        lines = await uow.lines.list(portal="c.test")
        assert await uow.lines.position(log_broker.spec.names.events_log) == 89
    assert {line.verdict for line in lines} == {"config_drift"}
    assert all(line.verdict_since == later(line.config_id + 0.7) for line in lines)
