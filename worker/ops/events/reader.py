"""Read the event log stream over AMQP 0.9.1: from a position, until caught up or cancelled.

A stream is read over AMQP 0.9.1 by an ordinary, non-exclusive consumer with a prefetch
(``basic.qos``, which streams require) and manual acks. The consume argument
``x-stream-offset`` says where to start (``first``, ``last``, ``next``, an offset or an AMQP
timestamp); each delivery carries its offset in the ``x-stream-offset`` header. An ack removes
nothing from a stream: it only hands the broker credit for more deliveries, so the reader acks
each delivery as it takes it.

When is a reader caught up? A stream consumer never ends by itself, and RabbitMQ 3.10 reports
no message count for a stream (``queue.declare-ok`` says 0), so the reader first finds the
*tail*, the offset of the last event stored when the read starts:

1. A probe consumer at ``last`` is sent the last chunk the broker wrote. The broker's channel
   process sends a chunk's deliveries in one go, so once the probe holds its first delivery, a
   round trip on the same channel (a passive ``queue.declare``) completes only after the rest
   of that chunk has arrived: the highest offset seen by then is the tail. When no delivery
   arrives within ``settle`` seconds, the stream is empty.
2. The reader then consumes from the requested start and ends after yielding the tail, or on
   the first delivery past it (written after the read began; not yielded). It ends at once
   when the start is known to lie past the tail (``next``, a larger offset, an empty stream),
   and when nothing arrives within ``settle`` seconds of starting (a start time later than the
   last chunk: the broker then waits for new writes).

So a read without ``follow`` returns exactly the events stored between its start and the
moment it began, in stream (= publish) order. With ``follow`` there is no tail: the reader
yields until it is cancelled or closed.

The broker positions a start *time* at chunk granularity, by its own write time: a few events
from just before the time can come first, and callers filter by event time (``--since``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from types import TracebackType

import aiormq.abc
import aiormq.exceptions
from aio_pika.abc import AbstractChannel, AbstractConnection
from aio_pika.exceptions import ChannelClosed, ChannelNotFoundEntity

from worker.errors import SiplineError
from worker.ops.events.positions import Start

OFFSET_HEADER = "x-stream-offset"
PROBE_PREFETCH = 65535  # the most basic.qos allows: the whole last chunk at once


class EventLogMissing(SiplineError):
    """The event log stream does not exist (wrong prefix, or the worker never declared it)."""

    code = "EVENT_LOG_MISSING"


@dataclass(frozen=True, slots=True)
class StreamRecord:
    """One stored message: its stream offset and its body, as published."""

    offset: int
    body: bytes


@dataclass(frozen=True, slots=True)
class _Delivery:
    offset: int
    body: bytes
    tag: int


class _Consumer:
    """One stream consumer on one channel; deliveries land in an in-order inbox."""

    def __init__(self, channel: aiormq.abc.AbstractChannel, queue: str) -> None:
        self._channel = channel
        self._queue = queue
        self.inbox: asyncio.Queue[_Delivery] = asyncio.Queue()
        self.highest: int | None = None

    async def _on_message(self, message: aiormq.abc.DeliveredMessage) -> None:
        # No await before the bookkeeping: deliveries are handled in arrival order, each
        # before any later frame's waiter resumes (the probe's barrier relies on it).
        headers = message.header.properties.headers or {}
        offset = headers.get(OFFSET_HEADER)
        tag = getattr(message.delivery, "delivery_tag", None)
        if not isinstance(offset, int) or not isinstance(tag, int):
            return
        self.highest = offset if self.highest is None else max(self.highest, offset)
        self.inbox.put_nowait(_Delivery(offset=offset, body=message.body, tag=tag))

    async def start(self, start: Start, prefetch: int) -> None:
        await self._channel.basic_qos(prefetch_count=prefetch)
        await self._channel.basic_consume(
            self._queue,
            self._on_message,
            no_ack=False,
            # a datetime goes out as an AMQP timestamp (seconds)
            arguments={OFFSET_HEADER: start},
        )

    async def barrier(self) -> None:
        """A round trip on this channel: every delivery the broker sent before it is in."""
        await self._channel.queue_declare(self._queue, passive=True)

    async def ack(self, delivery: _Delivery) -> None:
        await self._channel.basic_ack(delivery.tag)


class StreamReader:
    """Yields :class:`StreamRecord` from ``queue``, a stream, in offset order.

    The caller owns ``connection``; the reader owns the channels it opens and closes them on
    exit (safe twice). Use as ``async with StreamReader(...) as reader: async for r in reader``.
    """

    def __init__(
        self,
        *,
        connection: AbstractConnection,
        queue: str,
        start: Start = "first",
        follow: bool = False,
        prefetch: int = 256,
        settle: float = 1.0,
    ) -> None:
        if prefetch < 1:
            raise ValueError("a stream consumer needs a prefetch of at least 1")
        self._connection = connection
        self._queue = queue
        self._start = start
        self._follow = follow
        self._prefetch = prefetch
        self._settle = settle
        self._channels: list[AbstractChannel] = []
        self.tail: int | None = None
        #: set once the consumer is attached: from then on nothing written is missed
        self.attached = asyncio.Event()
        self._iterator: AsyncGenerator[StreamRecord, None] | None = None

    async def __aenter__(self) -> StreamReader:
        channel = await self._open()
        try:
            await channel.declare_queue(self._queue, passive=True)
        except ChannelNotFoundEntity:
            await self.aclose()
            raise EventLogMissing(f"no event log stream {self._queue!r} on the broker") from None
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Finish the iteration and close every channel the reader opened; safe twice."""
        iterator, self._iterator = self._iterator, None
        if iterator is not None:
            await iterator.aclose()  # a caller that stopped early (--limit) leaves none open
        channels, self._channels = self._channels, []
        for channel in reversed(channels):
            if not channel.is_closed:
                with contextlib.suppress(ChannelClosed, aiormq.exceptions.AMQPError):
                    await channel.close()

    def __aiter__(self) -> AsyncIterator[StreamRecord]:
        if self._iterator is not None:
            raise RuntimeError("a StreamReader is read once")
        self._iterator = self._records()
        return self._iterator

    async def _open(self) -> AbstractChannel:
        channel = await self._connection.channel(publisher_confirms=False)
        self._channels.append(channel)
        return channel

    async def _consumer(self, channel: AbstractChannel) -> _Consumer:
        return _Consumer(await channel.get_underlay_channel(), self._queue)

    async def probe_tail(self) -> int | None:
        """The offset of the last stored event, or None for an empty stream (see module doc)."""
        channel = await self._open()
        try:
            probe = await self._consumer(channel)
            await probe.start("last", PROBE_PREFETCH)
            try:
                await asyncio.wait_for(probe.inbox.get(), self._settle)
            except TimeoutError:
                return None
            await probe.barrier()
            return probe.highest
        finally:
            self._channels.remove(channel)
            await channel.close()

    def _starts_past_tail(self) -> bool:
        if self.tail is None or self._start == "next":
            return True
        return isinstance(self._start, int) and self._start > self.tail

    async def _records(self) -> AsyncGenerator[StreamRecord, None]:
        if not self._follow:
            self.tail = await self.probe_tail()
            if self._starts_past_tail():
                self.attached.set()
                return
        consumer = await self._consumer(await self._open())
        await consumer.start(self._start, self._prefetch)
        self.attached.set()
        waiting = None if self._follow else self._settle
        while True:
            try:
                delivery = await asyncio.wait_for(consumer.inbox.get(), waiting)
            except TimeoutError:
                return  # nothing at or after the start: caught up
            waiting = None
            await consumer.ack(delivery)
            if self.tail is not None and delivery.offset > self.tail:
                return
            yield StreamRecord(offset=delivery.offset, body=delivery.body)
            if self.tail is not None and delivery.offset >= self.tail:
                return
