"""What the fleet looks like from the broker: members (from their beats) and every shard's
depth and subscribers. Read-only: it listens on its own exclusive queue and uses passive
declares, so it never changes what the members do."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import aiormq
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractIncomingMessage

from worker.fleet.membership import Beat
from worker.fleet.topology import FleetNames, shards_on_broker


@dataclass(frozen=True, slots=True)
class QueueState:
    """``active`` is 1 while a consumer is active: on a single-active-consumer queue the
    broker's declare-ok counts the active consumer only, not the waiting ones (3.10.8)."""

    name: str
    messages: int
    active: int


@dataclass(frozen=True, slots=True)
class FleetStatus:
    members: dict[str, tuple[int, ...]]  # member id → the shards it says it holds
    commands: QueueState
    shards: list[QueueState]

    def owner(self, shard: int) -> str | None:
        for member, held in self.members.items():
            if shard in held:
                return member
        return None

    @property
    def orphaned(self) -> list[int]:
        """Shards no member says it holds (normal for a beat or two after a change)."""
        return [i for i in range(len(self.shards)) if self.owner(i) is None]


class NoFleet(Exception):
    """The broker has no fleet under this prefix."""


async def _queue(channel: AbstractChannel, name: str) -> QueueState:
    queue = await channel.declare_queue(name, passive=True)
    result = queue.declaration_result
    return QueueState(name, int(result.message_count or 0), int(result.consumer_count or 0))


async def read_status(
    connection: AbstractConnection, names: FleetNames, *, listen: float
) -> FleetStatus:
    """Listen to the beats for ``listen`` seconds, then read the queues."""

    async def open_channel() -> AbstractChannel:
        return await connection.channel()

    channel = await connection.channel()
    try:
        fanout = await channel.get_exchange(names.fleet_exchange, ensure=True)
    except aiormq.exceptions.ChannelNotFoundEntity:
        raise NoFleet(f"no fleet on this broker: {names.fleet_exchange} does not exist") from None
    beats: dict[str, tuple[int, ...]] = {}

    async def on_beat(message: AbstractIncomingMessage) -> None:
        beat = Beat.decode(message.body)
        if beat is None:
            return
        if beat.leaving:
            beats.pop(beat.member, None)
        else:
            beats[beat.member] = beat.shards

    listener = await channel.declare_queue("", exclusive=True, auto_delete=True)
    await listener.bind(fanout)
    await listener.consume(on_beat, no_ack=True)
    await asyncio.sleep(listen)
    count = await shards_on_broker(open_channel, names)
    reader = await connection.channel()
    commands = await _queue(reader, names.base.commands_queue)
    shards = [await _queue(reader, names.shard_queue(i)) for i in range(count)]
    await channel.close()
    await reader.close()
    return FleetStatus(members=dict(sorted(beats.items())), commands=commands, shards=shards)
