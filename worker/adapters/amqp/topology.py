"""The broker topology, declared idempotently at start-up.

::

    publishers ──▶ <p>.commands (topic) ──#──▶ <p>.commands (quorum queue) ──▶ worker
                        ▲                         │ x-delivery-limit exceeded
                        │ TTL expiry              ▼
    worker ──▶ <p>.delay (headers) ──▶ <p>.delay.<tier> (quorum, TTL)      <p>.commands.dlx (topic)
                                                                  worker ──▶  │ #
                                                                              ▼
                                                                 <p>.commands.dlq (quorum queue)
    worker ──▶ <p>.events (topic) ──#──▶ <p>.events.log (stream: the audit trail)

Delay tiers dead-letter back to the command exchange with the message's original routing key
(the command type), at-least-once, so a retry or a deferred re-check is never lost in transit.

The sweep schedule (worker/schedule) has its own corner: a portal's tick waits in
``<p>.schedule.wait.<interval>`` (per-message TTL) or ``<p>.schedule.hop.<tier>`` (fixed TTL)
and dead-letters through ``<p>.schedule`` (direct) into ``<p>.schedule.ticks``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractQueue, ExchangeType
from pamqp.common import FieldTable

from worker.adapters.amqp import dead_letter_queue

DELAY_HEADER = "sipline-delay"  # headers exchanges ignore x- headers when matching


def tier_name(seconds: float) -> str:
    """A delay tier's stable name: ``500ms``, ``5s``, ``2m``."""
    ms = round(seconds * 1000)
    if ms % 60_000 == 0:
        return f"{ms // 60_000}m"
    if ms % 1000 == 0:
        return f"{ms // 1000}s"
    return f"{ms}ms"


@dataclass(frozen=True, slots=True)
class Names:
    """Every exchange and queue name, derived from one prefix."""

    prefix: str = "sipline"

    @property
    def commands_exchange(self) -> str:
        return f"{self.prefix}.commands"

    @property
    def commands_queue(self) -> str:
        return f"{self.prefix}.commands"

    @property
    def dead_letter_exchange(self) -> str:
        return f"{self.prefix}.commands.dlx"

    @property
    def dead_letter_queue(self) -> str:
        return f"{self.prefix}.commands.dlq"

    @property
    def delay_exchange(self) -> str:
        return f"{self.prefix}.delay"

    def delay_queue(self, seconds: float) -> str:
        return f"{self.prefix}.delay.{tier_name(seconds)}"

    @property
    def events_exchange(self) -> str:
        return f"{self.prefix}.events"

    @property
    def events_log(self) -> str:
        return f"{self.prefix}.events.log"

    # --- the sweep schedule (worker/schedule) ---------------------------------------
    @property
    def schedule_exchange(self) -> str:
        return f"{self.prefix}.schedule"

    @property
    def schedule_ticks(self) -> str:
        return f"{self.prefix}.schedule.ticks"

    def schedule_hop(self, seconds: float) -> str:
        return f"{self.prefix}.schedule.hop.{tier_name(seconds)}"

    def schedule_wait(self, seconds: float) -> str:
        return f"{self.prefix}.schedule.wait.{tier_name(seconds)}"


@dataclass(frozen=True, slots=True)
class TopologySpec:
    """What to declare: names, delay tiers and limits."""

    names: Names
    delay_tiers: tuple[float, ...]
    delivery_limit: int
    events_max_bytes: int
    events_max_age: str
    # fleet mode: one router at a time reads the command queue, so arrival order is kept
    # (worker/fleet); an existing queue declared without it must be migrated first
    single_active_commands: bool = False

    def tier_for(self, seconds: float) -> float:
        """The shortest tier that waits at least ``seconds`` (or the longest tier)."""
        for tier in self.delay_tiers:
            if tier >= seconds:
                return tier
        return self.delay_tiers[-1]


@dataclass(frozen=True, slots=True)
class Declared:
    """Handles on the declared entities, for the publisher and the consumer."""

    commands_exchange: AbstractExchange
    dead_letter_exchange: AbstractExchange
    delay_exchange: AbstractExchange
    events_exchange: AbstractExchange
    commands_queue: AbstractQueue


def _quorum(extra: FieldTable | None = None) -> FieldTable:
    return {"x-queue-type": "quorum", **(extra or {})}


async def declare(channel: AbstractChannel, spec: TopologySpec) -> Declared:
    """Declare everything; safe to run again, fails loudly if an entity differs."""
    n = spec.names
    commands_x = await channel.declare_exchange(
        n.commands_exchange, ExchangeType.TOPIC, durable=True
    )
    dlx = await channel.declare_exchange(n.dead_letter_exchange, ExchangeType.TOPIC, durable=True)
    delay_x = await channel.declare_exchange(n.delay_exchange, ExchangeType.HEADERS, durable=True)
    events_x = await channel.declare_exchange(n.events_exchange, ExchangeType.TOPIC, durable=True)

    commands_q = await channel.declare_queue(
        n.commands_queue,
        durable=True,
        arguments=_quorum(
            {
                "x-dead-letter-exchange": n.dead_letter_exchange,
                "x-dead-letter-strategy": "at-least-once",
                "x-overflow": "reject-publish",
                "x-delivery-limit": spec.delivery_limit,
                **({"x-single-active-consumer": True} if spec.single_active_commands else {}),
            }
        ),
    )
    await commands_q.bind(commands_x, routing_key="#")

    dlq = await dead_letter_queue.declare(channel, n.dead_letter_queue)
    await dlq.bind(dlx, routing_key="#")

    for seconds in spec.delay_tiers:
        tier = await channel.declare_queue(
            n.delay_queue(seconds),
            durable=True,
            arguments=_quorum(
                {
                    "x-message-ttl": round(seconds * 1000),
                    "x-dead-letter-exchange": n.commands_exchange,
                    "x-dead-letter-strategy": "at-least-once",
                    "x-overflow": "reject-publish",
                }
            ),
        )
        await tier.bind(delay_x, arguments={"x-match": "all", DELAY_HEADER: tier_name(seconds)})

    log = await channel.declare_queue(
        n.events_log,
        durable=True,
        arguments={
            "x-queue-type": "stream",
            "x-max-length-bytes": spec.events_max_bytes,
            "x-max-age": spec.events_max_age,
        },
    )
    await log.bind(events_x, routing_key="#")

    return Declared(
        commands_exchange=commands_x,
        dead_letter_exchange=dlx,
        delay_exchange=delay_x,
        events_exchange=events_x,
        commands_queue=commands_q,
    )


TICK_ROUTING_KEY = "tick"


async def declare_schedule(channel: AbstractChannel, names: Names) -> AbstractQueue:
    """The schedule's exchange and its tick queue (the queue is returned).

    A tick that fails ``x-delivery-limit`` times is dropped (no dead-letter exchange): the
    schedule re-creates a lost tick by itself, and a tick has nothing for an operator."""
    exchange = await channel.declare_exchange(
        names.schedule_exchange, ExchangeType.DIRECT, durable=True
    )
    ticks = await channel.declare_queue(
        names.schedule_ticks,
        durable=True,
        arguments=_quorum({"x-delivery-limit": 5, "x-overflow": "reject-publish"}),
    )
    await ticks.bind(exchange, routing_key=TICK_ROUTING_KEY)
    return ticks


async def declare_tick_wait(
    channel: AbstractChannel, names: Names, seconds: float, *, per_message: bool
) -> str:
    """A queue where ticks wait, dead-lettering into the tick queue when they expire: an
    interval queue (``per_message``: each tick carries its own TTL) or a hop of a fixed
    ``seconds``. Returns its name; ticks are published to it through the default exchange."""
    name = names.schedule_wait(seconds) if per_message else names.schedule_hop(seconds)
    ttl = {} if per_message else {"x-message-ttl": round(seconds * 1000)}
    await channel.declare_queue(
        name,
        durable=True,
        arguments=_quorum(
            {
                **ttl,
                "x-dead-letter-exchange": names.schedule_exchange,
                "x-dead-letter-routing-key": TICK_ROUTING_KEY,
                "x-dead-letter-strategy": "at-least-once",
                "x-overflow": "reject-publish",
            }
        ),
    )
    return name


async def delete_all(
    channel: AbstractChannel,
    spec: TopologySpec,
    *,
    sweep_intervals: Iterable[float] | None = None,
) -> None:
    """Remove the whole topology (tests and ``sipline demo`` clean-up only).

    The schedule declares its queues as ticks need them: every hop of the ladder is
    deleted (deleting a queue that was never declared is not an error), and the interval
    queue of each of ``sweep_intervals`` (those the run used: the default and any
    portal's own; None: the default ``SIPLINE_SWEEP_INTERVAL``). Left behind, each would
    stay a quorum queue on the broker for good."""
    from worker.schedule.plan import HOP_BASE, HOP_MAX_EXPONENT  # the schedule imports us
    from worker.settings import Settings

    if sweep_intervals is None:
        sweep_intervals = (Settings.model_fields["sweep_interval"].default,)
    n = spec.names
    queues = [n.commands_queue, n.dead_letter_queue, n.events_log, n.schedule_ticks]
    queues += [n.delay_queue(s) for s in spec.delay_tiers]
    queues += [n.schedule_hop(HOP_BASE * 2**k) for k in range(HOP_MAX_EXPONENT + 1)]
    queues += [n.schedule_wait(s) for s in sorted(set(sweep_intervals))]
    for queue in queues:
        await channel.queue_delete(queue)
    for exchange in (
        n.commands_exchange,
        n.dead_letter_exchange,
        n.delay_exchange,
        n.events_exchange,
        n.schedule_exchange,
    ):
        await channel.exchange_delete(exchange)
