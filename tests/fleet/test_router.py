"""The pipelined router on the real broker: copies of many portals in flight together, each
delivery acked only after its own copy is confirmed, a portal's order kept in its shard, also
when the broker refuses a copy."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import aio_pika
from aio_pika.abc import AbstractConnection, AbstractIncomingMessage

from tests.amqp_helpers import AMQP_URL, wait_for
from tests.fleet.conftest import SHARDS, Fleet
from worker.fleet.shards import shard_of
from worker.fleet.topology import route_headers

PORTALS = [f"pipe-{i}.bitrix24.ru" for i in range(24)]


@dataclass
class Routed:
    """What each observer call said (the fleet's FleetObserver port, as a fake)."""

    outcomes: list[tuple[str, float]] = field(default_factory=list)

    def fleet_routed(self, outcome: str, seconds: float) -> None:
        self.outcomes.append((outcome, seconds))

    def fleet_handover(self, direction: str) -> None:
        raise AssertionError("the router does not hand shards over")

    def fleet_state(self, *, shards: int, members: int) -> None:
        raise AssertionError("the router does not hold shards")


async def read_shards(
    connection: AbstractConnection, fleet: Fleet, want: int
) -> dict[int, list[dict[str, object]]]:
    """Every shard's messages in queue order (basic.get is refused on these queues)."""
    channel = await connection.channel()
    seen: dict[int, list[dict[str, object]]] = {i: [] for i in range(SHARDS)}

    def collect(shard: int) -> object:
        async def on_message(message: AbstractIncomingMessage) -> None:
            seen[shard].append(json.loads(message.body))

        return on_message

    for shard in range(SHARDS):
        queue = await channel.get_queue(fleet.fleet.names.shard_queue(shard))
        await queue.consume(collect(shard), no_ack=True)
    await wait_for(lambda: sum(map(len, seen.values())) >= want, 20, "the copies")
    await channel.close()
    return seen


def assert_portal_order(seen: dict[int, list[dict[str, object]]], rounds: int) -> None:
    for shard, bodies in seen.items():
        by_portal: dict[str, list[str]] = {}
        for body in bodies:
            assert shard_of(str(body["portal"]), SHARDS) == shard
            by_portal.setdefault(str(body["portal"]), []).append(str(body["id"]))
        for portal, ids in by_portal.items():
            expected = [f"{portal}-{line}-{seq}" for seq in range(rounds) for line in (1, 2)]
            assert ids == expected, portal


async def test_copies_are_pipelined_and_each_portal_keeps_its_order(fleet: Fleet) -> None:
    connection = await aio_pika.connect(AMQP_URL)
    observer = Routed()
    try:
        sent = await fleet.publish_lines(PORTALS, lines=2, rounds=5)  # waiting in the queue
        async with fleet.router(connection, observer) as router:
            await wait_for(lambda: router.stats.routed == sent, 30, "every command routed")
        # one copy per portal at a time, many portals at once
        assert 1 < router.stats.most_in_flight <= len(PORTALS)
        assert router.stats.failures == 0
        assert [o for o, _ in observer.outcomes] == ["routed"] * sent
        assert all(seconds >= 0 for _, seconds in observer.outcomes)
        assert await fleet.broker.queue_depth(fleet.spec.names.commands_queue) == 0
        assert_portal_order(await read_shards(connection, fleet, sent), rounds=5)
    finally:
        await connection.close()


async def test_a_refused_copy_loses_nothing_and_its_portal_keeps_its_order(
    fleet: Fleet,
) -> None:
    connection = await aio_pika.connect(AMQP_URL)
    try:
        async with fleet.router(connection) as router:
            # shard 0 unbound: its copies come back unroutable (mandatory), so never confirmed
            channel = await connection.channel()
            shards_x = await channel.get_exchange(fleet.fleet.names.shards_exchange)
            shard0 = await channel.get_queue(fleet.fleet.names.shard_queue(0))
            binding = {"x-match": "all", **route_headers(0)}
            await shard0.unbind(shards_x, arguments=binding)
            blocked = [p for p in PORTALS if shard_of(p, SHARDS) == 0]
            assert blocked, "some portal must be in shard 0 for this test"
            sent = await fleet.publish_lines(PORTALS, lines=2, rounds=4)
            await wait_for(lambda: router.stats.failures >= 2, 20, "copies refused")
            # nothing of the blocked portals was acked: they wait (in the queue or held)
            assert router.stats.routed <= sent - len(blocked) * 2 * 4
            await shard0.bind(shards_x, arguments=binding)
            await wait_for(lambda: router.stats.routed >= sent, 30, "every command routed")
        seen = await read_shards(connection, fleet, sent)
        assert sum(map(len, seen.values())) == sent  # nothing lost, nothing twice
        assert_portal_order(seen, rounds=4)
    finally:
        await connection.close()
