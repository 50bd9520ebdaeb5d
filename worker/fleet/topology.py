"""The fleet's part of the broker topology: the shard queues, their exchange, the fleet fanout.

::

    router ──▶ <p>.shards (headers) ──sipline-shard = "i"──▶ <p>.shard.<i>   (i = 0 … S-1)
    every process ──▶ <p>.fleet (fanout) ──▶ an exclusive, auto-delete queue per process

A headers exchange, not the ``x-consistent-hash`` plugin: on RabbitMQ 3.x that plugin maps a
hash to a queue through bucket numbers given out in the order the bindings were added, kept
in RAM tables that a broker restart rebuilds, so a portal can land in another shard after a
restart (checked on 3.10.8: reversing the binding order moved 40 of 40 portals). The router
computes the shard itself (:func:`worker.fleet.shards.shard_of`) and the routing key stays
the command type, which the processor, the dead letters and the delay tiers rely on.

The shard count S is recorded on the broker by the shard queues themselves: ``<p>.shard.0``
… ``<p>.shard.<S-1>`` exist and ``<p>.shard.<S>`` does not. A process configured with another
S refuses to start (:class:`FleetRefused`); ``sipline fleet reshard`` changes S of a
stopped fleet in place (:mod:`worker.fleet.reshard`, docs/operations.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiormq
from aio_pika.abc import AbstractChannel, AbstractExchange, ExchangeType
from pamqp.common import FieldTable

from worker.adapters.amqp.topology import Names
from worker.errors import ConfigurationError

SHARD_HEADER = "sipline-shard"  # headers exchanges ignore x- headers when matching
MAX_SHARDS = 1024
# Every handover returns the deliveries a process held but had not started (at most the
# shard prefetch) to the queue, and RabbitMQ 3.x counts that as a delivery: the shards allow
# this many handovers on top of the poison-message limit.
HANDOVER_ALLOWANCE = 20


class FleetRefused(ConfigurationError):
    """The broker's fleet topology does not match this process's settings."""

    code = "FLEET_REFUSED"


@dataclass(frozen=True, slots=True)
class FleetNames:
    """Every fleet exchange and queue name, derived from the topology prefix."""

    prefix: str

    @property
    def shards_exchange(self) -> str:
        return f"{self.prefix}.shards"

    def shard_queue(self, shard: int) -> str:
        return f"{self.prefix}.shard.{shard}"

    @property
    def fleet_exchange(self) -> str:
        return f"{self.prefix}.fleet"

    @property
    def base(self) -> Names:
        """The single-process topology's names (the command queue, the dead letters)."""
        return Names(self.prefix)


@dataclass(frozen=True, slots=True)
class FleetSpec:
    names: FleetNames
    shards: int
    delivery_limit: int

    def __post_init__(self) -> None:
        if not 1 <= self.shards <= MAX_SHARDS:
            raise ConfigurationError(f"the shard count must be 1 … {MAX_SHARDS}")


def shard_arguments(spec: FleetSpec) -> FieldTable:
    return {
        "x-queue-type": "quorum",
        "x-single-active-consumer": True,
        "x-dead-letter-exchange": spec.names.base.dead_letter_exchange,
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
        "x-delivery-limit": spec.delivery_limit + HANDOVER_ALLOWANCE,
    }


def route_headers(shard: int) -> dict[str, str]:
    """The header that sends a copy to shard ``shard`` (one owner of its name and encoding)."""
    return {SHARD_HEADER: str(shard)}


ChannelFactory = Callable[[], Awaitable[AbstractChannel]]


async def queue_exists(open_channel: ChannelFactory, name: str) -> bool:
    """A passive declare on a throw-away channel (a missing queue closes the channel)."""
    channel = await open_channel()
    try:
        await channel.declare_queue(name, passive=True)
    except aiormq.exceptions.ChannelNotFoundEntity:
        return False
    finally:
        if not channel.is_closed:
            await channel.close()
    return True


async def shards_on_broker(open_channel: ChannelFactory, names: FleetNames) -> int:
    """How many shard queues the broker has (0 on a fresh broker)."""
    low, high = 0, MAX_SHARDS + 1  # shard.<low-1> exists (or low == 0), shard.<high-1> does not
    if not await queue_exists(open_channel, names.shard_queue(0)):
        return 0
    low = 1
    while low < high:
        middle = (low + high) // 2
        if await queue_exists(open_channel, names.shard_queue(middle)):
            low = middle + 1
        else:
            high = middle
    return low


async def check_shard_count(
    open_channel: ChannelFactory, spec: FleetSpec, *, settle: float = 3.0, limit: float = 30.0
) -> None:
    """Refuse if the broker has shard queues for another S.

    Fewer than S may be a process with the same S declaring them right now (processes
    starting together on a fresh broker, each declaring ``shard.0`` … in order): wait while
    the count grows, and refuse only once it has stood still for ``settle`` seconds.
    """
    loop = asyncio.get_running_loop()
    found = await shards_on_broker(open_channel, spec.names)
    deadline, moved = loop.time() + limit, loop.time()
    while 0 < found < spec.shards and loop.time() - moved < settle and loop.time() < deadline:
        await asyncio.sleep(0.25)
        now = await shards_on_broker(open_channel, spec.names)
        if now != found:
            found, moved = now, loop.time()
    if found not in (0, spec.shards):
        raise FleetRefused(
            f"the broker has {found} shard queues ({spec.names.shard_queue(0)} …) but this "
            f"worker is configured for {spec.shards}; changing the count moves portals "
            f"between shards: stop the fleet, run 'sipline fleet reshard', see 'Changing the "
            f"shard count' in docs/operations.md"
        )


async def declare_fleet(
    channel: AbstractChannel, open_channel: ChannelFactory, spec: FleetSpec
) -> AbstractExchange:
    """Check S, then declare the shards and the fleet fanout; returns the shards exchange."""
    await check_shard_count(open_channel, spec)
    shards_x = await channel.declare_exchange(
        spec.names.shards_exchange, ExchangeType.HEADERS, durable=True
    )
    await channel.declare_exchange(spec.names.fleet_exchange, ExchangeType.FANOUT, durable=True)
    for shard in range(spec.shards):
        queue = await channel.declare_queue(
            spec.names.shard_queue(shard), durable=True, arguments=shard_arguments(spec)
        )
        await queue.bind(shards_x, arguments={"x-match": "all", **route_headers(shard)})
    # two processes with different counts starting at once on a fresh broker: one sees more
    await check_shard_count(open_channel, spec)
    return shards_x


async def delete_fleet(channel: AbstractChannel, names: FleetNames, shards: int) -> None:
    """Remove the fleet topology (tests)."""
    for shard in range(shards):
        await channel.queue_delete(names.shard_queue(shard))
    await channel.exchange_delete(names.shards_exchange)
    await channel.exchange_delete(names.fleet_exchange)
