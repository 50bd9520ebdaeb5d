"""The one connection and channel a ``sipline dlq`` run owns.

Reading the DLQ and publishing copies share one channel on purpose: AMQP processes a
channel's frames in order, so once a publish that follows an ack is confirmed, that ack has
been processed too. :mod:`worker.ops.dlq.replay` relies on it for its guarantee. A pass that
only looks (:func:`worker.ops.dlq.store.visit`) opens a channel of its own.

The connection is not "robust": after a reconnect the held delivery tags would be void, so a
dropped connection ends the run (and the broker returns whatever was held).

Before anything is read, the DLQ's arguments are checked
(:mod:`worker.adapters.amqp.dead_letter_queue`): a DLQ declared by an earlier version has no
delivery limit of its own, which RabbitMQ 4.x turns into a default of 20 deliveries; there a
run refuses to read it until ``sipline dlq migrate`` has been run. On 3.x it warns.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractExchange, AbstractQueue
from aio_pika.exceptions import ChannelClosed

from worker.adapters.amqp import dead_letter_queue as dlq
from worker.adapters.amqp.dead_letter_queue import DlqState
from worker.adapters.amqp.topology import Names
from worker.ops.dlq.errors import DlqError

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 10.0


@dataclass(frozen=True, slots=True)
class DlqBroker:
    """Handles on what the tooling touches; the topology must already be declared."""

    names: Names
    connection: AbstractConnection
    channel: AbstractChannel
    dead_letters: AbstractQueue
    dead_letter_exchange: AbstractExchange
    commands: AbstractExchange
    events: AbstractExchange


def broker_major(server_properties: dict[str, Any]) -> int | None:
    """The broker's major version from its ``connection.start`` properties, if it says."""
    version = server_properties.get("version")
    if isinstance(version, bytes):
        version = version.decode("utf-8", "replace")
    match = re.match(r"\s*(\d+)\.", str(version or ""))
    return int(match.group(1)) if match else None


def refuse_unprotected(state: DlqState, major: int | None, name: str) -> None:
    """Refuse to read a DLQ without its own delivery limit where reading would drop it."""
    if state is not DlqState.LEGACY:
        return
    if major is None or major >= 4:
        raise DlqError(
            dlq.upgrade_hint(name) + "; refusing to read it on this broker until it is migrated"
        )
    log.warning(dlq.upgrade_hint(name))


async def _lookup(
    connection: AbstractConnection, channel: AbstractChannel, names: Names
) -> DlqBroker:
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
    return DlqBroker(names, connection, channel, queue, dlx, commands, events)


def _server_properties(connection: AbstractConnection) -> dict[str, Any]:
    transport = getattr(connection, "transport", None)
    properties = getattr(getattr(transport, "connection", None), "server_properties", None)
    return dict(properties or {})


@asynccontextmanager
async def open_broker(
    url: str, names: Names, *, check_protection: bool = True
) -> AsyncIterator[DlqBroker]:
    """Connect, open a confirming channel, find the topology; close everything on exit."""
    try:
        connection = await aio_pika.connect(url, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError, aio_pika.exceptions.AMQPError) as exc:
        raise DlqError(f"cannot connect to the broker: {type(exc).__name__}") from exc
    async with connection:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        broker = await _lookup(connection, channel, names)
        if check_protection:
            state = await dlq.probe(channel, names.dead_letter_queue)
            major = broker_major(_server_properties(connection))
            refuse_unprotected(state, major, names.dead_letter_queue)
        yield broker
