"""The dead-letter queue's own arguments, and what to do with a DLQ declared without them.

``sipline dlq`` reads the DLQ by holding each message unacked and returns whatever it does
not remove with ``basic.nack`` (requeue), so that looking never loses anything. A quorum queue
counts such returns:

* RabbitMQ 3.x counts every return in ``x-delivery-count`` but sets no limit by default;
* RabbitMQ 4.0-4.2 give every quorum queue a default ``delivery-limit`` of 20 and count
  every acquisition, so the 21st listing would drop each dead letter (the DLQ has no
  dead-letter exchange of its own);
* RabbitMQ 4.3 stops counting ``basic.nack`` returns, but still counts returns when a
  channel closes (a listing interrupted with Ctrl-C).

No reading method is free on every version, so the DLQ sets its own explicit limit,
:data:`DELIVERY_LIMIT`, high enough never to be reached (a billion listings), which every
version from 3.10 on accepts and which replaces the 4.x default.

A DLQ declared by an earlier version has no such argument, and declaring a queue again with
different arguments fails (``PRECONDITION_FAILED``). :func:`probe` tells the two apart on a
throwaway channel; the worker then uses the queue as it is and logs how to upgrade it
(``sipline dlq migrate``, see docs/operations.md).
"""

from __future__ import annotations

import logging
from enum import Enum

from aio_pika.abc import AbstractChannel, AbstractQueue
from aiormq.exceptions import ChannelNotFoundEntity, ChannelPreconditionFailed
from pamqp.common import FieldTable

log = logging.getLogger(__name__)

DELIVERY_LIMIT = 1_000_000_000


class DlqState(Enum):
    """How a dead-letter queue stands on the broker."""

    PROTECTED = "protected"  # declared with this version's arguments
    LEGACY = "legacy"  # declared by an earlier version: no explicit delivery limit
    MISSING = "missing"


def arguments() -> FieldTable:
    """The DLQ's arguments: a quorum queue with its own, unreachable delivery limit."""
    return {"x-queue-type": "quorum", "x-delivery-limit": DELIVERY_LIMIT}


async def probe(channel: AbstractChannel, name: str, *, create: bool = False) -> DlqState:
    """Whether ``name`` is declared with :func:`arguments`, checked on a throwaway channel.

    With ``create``, a missing queue is declared (and reported ``PROTECTED``); without, it
    is reported ``MISSING`` and nothing is created. The caller's channel is never closed
    by the broker's refusal.
    """
    underlay = await channel.get_underlay_channel()
    scratch = await underlay.connection.channel()
    try:
        if not create:
            try:
                await scratch.queue_declare(name, passive=True)
            except ChannelNotFoundEntity:
                return DlqState.MISSING
        await scratch.queue_declare(name, durable=True, arguments=arguments())
    except ChannelPreconditionFailed:
        return DlqState.LEGACY
    finally:
        if not scratch.is_closed:
            await scratch.close()
    return DlqState.PROTECTED


def upgrade_hint(name: str) -> str:
    return (
        f"the dead-letter queue {name} was declared by an earlier version without its own "
        "x-delivery-limit: on RabbitMQ 4.x every listing counts as a delivery and its dead "
        "letters are dropped after 20; run `sipline dlq migrate` (docs/operations.md)"
    )


async def declare(channel: AbstractChannel, name: str) -> AbstractQueue:
    """Declare the DLQ with :func:`arguments`, or use an earlier version's DLQ as it is."""
    if await probe(channel, name, create=True) is DlqState.LEGACY:
        log.warning(upgrade_hint(name), extra={"queue": name})
        return await channel.get_queue(name, ensure=True)
    return await channel.declare_queue(name, durable=True, arguments=arguments())
