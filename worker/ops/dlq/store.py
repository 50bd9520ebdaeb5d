"""Reading the dead-letter queue without losing anything.

A session takes messages one by one with ``basic.get`` and holds them unacked, so the same
message is never taken twice in one scan. When the scan ends, the messages that were not
selected are requeued; the selected ones stay held until they are removed (acked, after
their replacement is confirmed) or released when the session ends. If the process dies,
the broker returns every held message itself: a session can only lose a message it acked.

Requeueing makes the quorum queue count a delivery (``x-delivery-count``); the DLQ has no
delivery limit, and "attempts" come from ``x-sipline-attempt``, so reading changes nothing
an operator sees. Requeueing may change the order of the DLQ, which carries no meaning.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType

from aio_pika import DeliveryMode
from aio_pika.abc import AbstractIncomingMessage, AbstractQueue

from worker.ops.dlq.model import DeadLetter, Properties, Raw, parse

log = logging.getLogger(__name__)

Select = Callable[[DeadLetter], bool]
# Header the broker adds when it delivers a quorum queue message again; a reading artefact.
DELIVERY_COUNT = "x-delivery-count"


@dataclass(eq=False, slots=True)
class Held:
    """A dead letter held unacked by a session."""

    letter: DeadLetter
    delivery: AbstractIncomingMessage
    removed: bool = False


def raw_of(message: AbstractIncomingMessage) -> Raw:
    """The message as the broker holds it, less the delivery count this read added."""
    headers = {k: v for k, v in (message.headers or {}).items() if k != DELIVERY_COUNT}
    return Raw(
        body=bytes(message.body),
        routing_key=message.routing_key or "",
        properties=Properties(
            content_type=message.content_type,
            content_encoding=message.content_encoding,
            message_id=message.message_id,
            correlation_id=message.correlation_id,
            type=message.type,
            timestamp=message.timestamp,
            app_id=message.app_id,
            reply_to=message.reply_to,
            priority=message.priority,
            persistent=message.delivery_mode != DeliveryMode.NOT_PERSISTENT,
        ),
        headers=headers,
    )


class DeadLetterSession:
    """One pass over the DLQ; ``async with`` releases whatever it did not remove."""

    def __init__(self, *, queue: AbstractQueue, get_timeout: float = 10.0) -> None:
        self._queue = queue
        self._timeout = get_timeout
        self._held: list[Held] = []
        self._scanned = False

    async def __aenter__(self) -> DeadLetterSession:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.release()

    async def scan(self, select: Select | None = None, *, limit: int | None = None) -> list[Held]:
        """Take the DLQ's messages; keep those ``select`` accepts (up to ``limit``).

        The scan stops early once ``limit`` are selected; messages not selected are requeued
        when it ends.
        """
        if self._scanned:
            raise RuntimeError("a session scans once")
        self._scanned = True
        selected: list[Held] = []
        others: list[Held] = []
        while limit is None or len(selected) < limit:
            message = await self._queue.get(no_ack=False, fail=False, timeout=self._timeout)
            if message is None:
                break
            held = Held(parse(raw_of(message)), message)
            (selected if select is None or select(held.letter) else others).append(held)
        for held in others:
            await held.delivery.nack(requeue=True)
        self._held = selected
        return selected

    async def remove(self, held: Held) -> None:
        """Ack the dead letter: only once its replacement is confirmed elsewhere."""
        await held.delivery.ack()
        held.removed = True

    async def release(self) -> None:
        """Requeue every held message not removed; a closed channel returns them anyway."""
        for held in self._held:
            if not held.removed:
                with contextlib.suppress(Exception):
                    await held.delivery.nack(requeue=True)
        self._held = []
