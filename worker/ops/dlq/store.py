"""Reading the dead-letter queue without losing anything.

Messages are delivered in windows (:mod:`worker.ops.dlq.reading`) and held unacked, so the
same message is never seen twice in one pass. Two ways to read:

* :func:`visit` looks only: each selected dead letter is handed to a callback and dropped,
  so memory stays flat whatever the DLQ holds; everything goes back to the queue when the
  pass ends (one ``basic.nack`` with ``multiple``, then the pass's own channel closes).
* :class:`DeadLetterSession` holds the selected dead letters until they are removed (acked,
  after their replacement is confirmed) or released; the others go back when the scan ends.
  It reads on the channel it publishes on, which the replay's guarantee relies on.

If the process dies, the broker returns every held message itself: reading can only lose a
message it acked. Returning a message makes the quorum queue count a delivery
(``x-delivery-count``); the DLQ's own delivery limit (:mod:`worker.adapters.amqp.dead_letter_queue`)
is out of reach, and "attempts" come from ``x-sipline-attempt``, so reading changes nothing
an operator sees. Requeueing may change the order of the DLQ, which carries no meaning.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from contextlib import aclosing
from dataclasses import dataclass
from types import TracebackType

from aio_pika import DeliveryMode
from aio_pika.abc import (
    AbstractChannel,
    AbstractConnection,
    AbstractIncomingMessage,
    AbstractQueue,
)

from worker.ops.dlq.model import DeadLetter, Properties, Raw, parse
from worker.ops.dlq.reading import DEFAULT_WINDOW, deliveries

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


async def visit(
    connection: AbstractConnection,
    queue_name: str,
    on_letter: Callable[[DeadLetter], None],
    select: Select | None = None,
    *,
    limit: int | None = None,
    window: int = DEFAULT_WINDOW,
) -> int:
    """Hand each selected dead letter to ``on_letter`` (up to ``limit``); returns how many.

    Looks only: the pass has its own channel, and everything it read goes back to the queue.
    """
    channel = await connection.channel(publisher_confirms=False)
    seen = 0
    last: AbstractIncomingMessage | None = None
    try:
        queue = await channel.get_queue(queue_name, ensure=True)
        async with aclosing(deliveries(channel, queue, window=window)) as messages:
            async for message in messages:
                last = message
                letter = parse(raw_of(message))
                if select is None or select(letter):
                    on_letter(letter)
                    seen += 1
                    if limit is not None and seen >= limit:
                        break
        if last is not None:
            await last.nack(multiple=True, requeue=True)
    finally:
        with contextlib.suppress(Exception):  # closing returns whatever is still unacked
            await channel.close()
    return seen


class DeadLetterSession:
    """One pass over the DLQ that holds what it selects; ``async with`` releases the rest."""

    def __init__(
        self, *, channel: AbstractChannel, queue: AbstractQueue, window: int = DEFAULT_WINDOW
    ) -> None:
        self._channel = channel
        self._queue = queue
        self._window = window
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

        The scan stops early once ``limit`` are selected. Messages not selected are
        returned when it ends (only their delivery tags are kept meanwhile); messages the
        broker had already sent when an early stop came go back when the channel closes.
        """
        if self._scanned:
            raise RuntimeError("a session scans once")
        self._scanned = True
        selected: list[Held] = []
        others: list[int] = []
        underlay = await self._channel.get_underlay_channel()
        stream = deliveries(self._channel, self._queue, window=self._window)
        async with aclosing(stream) as messages:
            async for message in messages:
                held = Held(parse(raw_of(message)), message)
                if select is None or select(held.letter):
                    selected.append(held)
                    if limit is not None and len(selected) >= limit:
                        break
                elif message.delivery_tag is not None:
                    others.append(message.delivery_tag)
        for tag in others:
            await underlay.basic_nack(delivery_tag=tag, requeue=True)
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
