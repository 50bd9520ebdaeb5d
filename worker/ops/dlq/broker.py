"""The one connection and channel a ``sipline dlq`` run owns.

Reading the DLQ and publishing copies share one channel on purpose: AMQP processes a
channel's frames in order, so once a publish that follows an ack is confirmed, that ack has
been processed too. :mod:`worker.ops.dlq.replay` relies on it for its guarantee.

The connection is not "robust": after a reconnect the held delivery tags would be void, so a
dropped connection ends the run (and the broker returns whatever was held).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractQueue
from aio_pika.exceptions import ChannelClosed

from worker.adapters.amqp.topology import Names
from worker.ops.dlq.errors import DlqError


@dataclass(frozen=True, slots=True)
class DlqBroker:
    """Handles on what the tooling touches; the topology must already be declared."""

    names: Names
    channel: AbstractChannel
    dead_letters: AbstractQueue
    dead_letter_exchange: AbstractExchange
    commands: AbstractExchange
    events: AbstractExchange


async def _lookup(channel: AbstractChannel, names: Names) -> DlqBroker:
    try:
        queue = await channel.get_queue(names.dead_letter_queue, ensure=True)
        dlx = await channel.get_exchange(names.dead_letter_exchange, ensure=True)
        commands = await channel.get_exchange(names.commands_exchange, ensure=True)
        events = await channel.get_exchange(names.events_exchange, ensure=True)
    except ChannelClosed as exc:
        raise DlqError(
            f"the topology with prefix {names.prefix!r} is not declared on this broker "
            "(start the worker once, or check --prefix)"
        ) from exc
    return DlqBroker(names, channel, queue, dlx, commands, events)


@asynccontextmanager
async def open_broker(url: str, names: Names) -> AsyncIterator[DlqBroker]:
    """Connect, open a confirming channel, find the topology; close everything on exit."""
    try:
        connection = await aio_pika.connect(url)
    except (OSError, aio_pika.exceptions.AMQPError) as exc:
        raise DlqError(f"cannot connect to the broker: {type(exc).__name__}") from exc
    async with connection:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        yield await _lookup(channel, names)
