"""Members on the real broker: routing, exclusive handover, failover, fair shares."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aio_pika
from aio_pika.abc import AbstractIncomingMessage

from tests.amqp_helpers import AMQP_URL, wait_for
from tests.fleet.conftest import SHARDS, Fleet
from worker.fleet.shards import assign, shard_of
from worker.fleet.status import read_status
from worker.fleet.topology import SHARD_HEADER


def _collect(into: list[AbstractIncomingMessage]) -> Any:
    async def on_message(message: AbstractIncomingMessage) -> None:
        into.append(message)

    return on_message


def abort_tcp(connection: aio_pika.abc.AbstractConnection) -> None:
    """Reset the TCP connection under an open AMQP connection, as a killed process's kernel
    does: no Connection.Close, the broker just sees the socket go."""
    amqp: Any = getattr(connection, "transport").connection
    frame = amqp._writer_task.get_coro().cr_frame  # the writer coroutine holds the stream
    writer: asyncio.StreamWriter = frame.f_locals["writer"]
    writer.transport.abort()


PORTALS = [f"portal-{i}.bitrix24.ru" for i in range(12)]


def in_order(sequences: dict[tuple[str, int], list[int]]) -> bool:
    """Each line's commands ran in publishing order (a repeat of the last one is allowed)."""
    for seqs in sequences.values():
        first_runs = list(dict.fromkeys(seqs))
        if first_runs != sorted(first_runs):
            return False
    return True


async def test_the_router_puts_each_command_in_its_portals_shard(fleet: Fleet) -> None:
    connection = await aio_pika.connect(AMQP_URL)
    try:
        async with fleet.router(connection) as router:
            sent = await fleet.publish_lines(PORTALS, lines=2, rounds=2)
            await fleet.broker.publish_raw(b"{not json", routing_key="line.reconcile")
            await wait_for(lambda: router.stats.routed == sent, 20, "every command routed")
            await wait_for(lambda: len(fleet.broker.dead.messages) == 1, 20, "the bad one rejected")
        channel = await connection.channel()

        dead = fleet.broker.dead.messages[0]
        assert dead.body == b"{not json"
        assert (dead.headers or {}).get("x-sipline-reason") == "not_json"
        assert [e["type"] for e in fleet.broker.events.bodies()] == ["command.rejected"]

        # basic.get is refused on single-active-consumer quorum queues: consume instead
        seen: dict[int, list[AbstractIncomingMessage]] = {}
        for shard in range(SHARDS):
            queue = await channel.get_queue(fleet.fleet.names.shard_queue(shard))
            await queue.consume(_collect(seen.setdefault(shard, [])), no_ack=True)
        await wait_for(lambda: sum(len(v) for v in seen.values()) == sent, 10, "the copies")
        for shard, messages in seen.items():
            for message in messages:
                body = json.loads(message.body)
                assert (message.headers or {})[SHARD_HEADER] == str(shard)
                assert message.routing_key == "line.reconcile"  # the type, as before
                assert shard_of(body["portal"], SHARDS) == shard
        seen = {shard: messages for shard, messages in seen.items() if messages}
        assert len(seen) > 1  # twelve portals do not all land in one shard
    finally:
        await connection.close()


async def test_handover_never_lets_two_members_work_on_one_shard(fleet: Fleet) -> None:
    # long enough that a member handing a shard over still has work in hand when the next
    # owner subscribes: a handover that let go early would show up as an overlap
    fleet.ledger.delay = 0.05
    await fleet.start("a")
    sent = await fleet.publish_lines(PORTALS, lines=2, rounds=5)
    await wait_for(lambda: fleet.ledger.runs > sent // 6, 30, "work under way")
    await fleet.start("b")
    await wait_for(lambda: fleet.ledger.runs > sent // 3, 30, "more work")
    await fleet.start("c")
    await fleet.converged()
    sent += await fleet.publish_lines(PORTALS, lines=2, rounds=5, start=5)
    await wait_for(lambda: fleet.ledger.runs > sent * 2 // 3, 30, "most of the work")
    await fleet.stop("a")  # gives its shards away while commands are in flight
    sent += await fleet.publish_lines(PORTALS, lines=2, rounds=5, start=10)
    await wait_for(lambda: fleet.ledger.runs > sent * 3 // 4, 30, "most of the rest")
    await fleet.stop("b")
    await wait_for(lambda: len(fleet.ledger.done) >= sent, 60, "every command")
    await fleet.converged()

    assert fleet.ledger.overlaps == []
    assert len(fleet.ledger.done) == sent  # graceful handovers: each exactly once
    assert in_order(fleet.ledger.sequences())
    assert all(seqs == list(range(15)) for seqs in fleet.ledger.sequences().values())
    assert set(fleet.ledger.portals_by_member()) == {"a", "b", "c"}


async def test_a_member_whose_connection_dies_is_replaced(fleet: Fleet) -> None:
    fleet.ledger.delay = 0.01
    a = await fleet.start("a")
    await fleet.start("b")
    await fleet.converged()
    sent = await fleet.publish_lines(PORTALS, lines=2, rounds=10)
    await wait_for(lambda: fleet.ledger.runs > sent // 4, 30, "work under way")

    # what kill -9 does to the broker side: the TCP connection drops without a goodbye
    fleet.ledger.killed.add("a")
    assert a.connection is not None
    abort_tcp(a.connection)
    killed_at = asyncio.get_running_loop().time()
    _, task = fleet.members.pop("a")
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)

    b, _ = fleet.members["b"]
    await wait_for(lambda: b.held == frozenset(range(SHARDS)), 10, "b to take every shard")
    took = asyncio.get_running_loop().time() - killed_at
    assert took < 5  # three missed beats of 0.3 s, then a tick
    await wait_for(
        lambda: (
            {(p, line, s) for _, p, line, s in fleet.ledger.done}
            >= {(p, line, s) for p in PORTALS for line in (1, 2) for s in range(10)}
        ),
        60,
        "every command to run",
    )
    assert fleet.ledger.overlaps == []
    assert in_order(fleet.ledger.sequences())


async def test_three_members_hold_fair_shares(fleet: Fleet) -> None:
    for tag in ("a", "b", "c"):
        await fleet.start(tag)
    await fleet.converged()
    held = {tag: member.held for tag, (member, _) in fleet.members.items()}
    assert held == assign(SHARDS, {"a", "b", "c"})
    assert sorted(len(s) for s in held.values()) == [2, 3, 3]


async def test_a_retry_comes_back_through_the_router_to_the_owner(fleet: Fleet) -> None:
    portal = PORTALS[0]
    fleet.ledger.fail_first = {f"{portal}-1-0", f"{portal}-2-1"}
    await fleet.start("a")
    await fleet.start("b")
    await fleet.converged()
    sent = await fleet.publish_lines([portal], lines=2, rounds=3)
    await wait_for(lambda: len(fleet.ledger.done) >= sent, 20, "every command, retries too")
    assert fleet.ledger.fail_first == set()
    owners = {member for member, *_ in fleet.ledger.done}
    assert len(owners) == 1  # the retry copy went back to the same shard and owner
    await wait_for(
        lambda: len(fleet.broker.events.of_type("line.reconciled")) == sent, 10, "the events"
    )


async def test_status_shows_members_owners_and_depths(fleet: Fleet) -> None:
    await fleet.start("a")
    await fleet.start("b")
    await fleet.converged()
    connection = await aio_pika.connect(AMQP_URL)
    try:
        found = await read_status(connection, fleet.fleet.names, listen=1.0)
    finally:
        await connection.close()
    expected = assign(SHARDS, {"a", "b"})
    assert {m: set(s) for m, s in found.members.items()} == {m: set(s) for m, s in expected.items()}
    assert found.orphaned == []
    assert len(found.shards) == SHARDS
    assert all(q.active == 1 for q in found.shards)
    assert found.commands.active == 1  # one router active (the other waits, uncounted)
