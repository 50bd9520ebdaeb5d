"""Every ready message of a queue, delivered once and held unacked, in bounded windows.

``basic.get`` on a quorum queue is one Raft command (and a disk write) per message: about
10 ms each on a busy machine, so eight minutes for 50,000 dead letters. Consumers are fed
in batches instead. A consumer with prefetch ``window`` stops receiving once it holds
``window`` unacked messages, and the held messages stay with this channel until they are
acked or returned, so they are never delivered twice in one pass. :func:`deliveries` opens
one consumer per window, the next only after the previous window has been handed to the
caller: the process holds at most about one window in memory whatever the queue's length,
while the broker keeps every message read so far unacked.

The pass ends when the queue has no ready message left (a passive declare counts only ready
messages; those held by another reader are theirs) and the consumers are cancelled; what was
delivered before the cancel is still handed over, and a last ``basic.get`` until empty picks
up anything that became ready in between.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from contextlib import suppress

from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractQueue

DEFAULT_WINDOW = 500
PAUSE = 0.02  # seconds without a delivery before asking the broker whether any is left
SETTLE = 0.02  # seconds of quiet after the cancel before the last deliveries are counted in


async def _ready(channel: AbstractChannel, name: str) -> int:
    declared = await channel.declare_queue(name, passive=True)
    return declared.declaration_result.message_count or 0


async def _drain(inbox: asyncio.Queue[AbstractIncomingMessage]) -> list[AbstractIncomingMessage]:
    """What the cancelled consumers had been sent, once the deliveries in flight are in."""
    out: list[AbstractIncomingMessage] = []
    while True:
        try:
            out.append(await asyncio.wait_for(inbox.get(), SETTLE))
        except TimeoutError:
            return out


async def deliveries(
    channel: AbstractChannel,
    queue: AbstractQueue,
    *,
    window: int = DEFAULT_WINDOW,
    pause: float = PAUSE,
) -> AsyncGenerator[AbstractIncomingMessage, None]:
    """Yield each message ready in ``queue`` once, leaving it unacked on ``channel``.

    The caller acks, nacks, or lets the channel close; stopping early (``aclose``) cancels
    the consumers, and what they were sent stays unacked with the channel.
    """
    inbox: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()
    tags: list[str] = []

    async def collect(message: AbstractIncomingMessage) -> None:
        inbox.put_nowait(message)

    async def open_window() -> None:
        tags.append(await queue.consume(collect, no_ack=False))

    await channel.set_qos(prefetch_count=window)
    cancelled = False
    try:
        await open_window()
        in_window = 0
        while True:
            try:
                message = await asyncio.wait_for(inbox.get(), pause)
            except TimeoutError:
                if await _ready(channel, queue.name) == 0:
                    break
                continue
            yield message
            in_window += 1
            if in_window == window:
                await open_window()
                in_window = 0
        await _cancel(queue, tags)
        cancelled = True
        for message in await _drain(inbox):
            yield message
        while (late := await queue.get(no_ack=False, fail=False)) is not None:
            yield late
    finally:
        if not cancelled:
            await _cancel(queue, tags)


async def _cancel(queue: AbstractQueue, tags: list[str]) -> None:
    for tag in tags:
        with suppress(Exception):  # the channel may be closing; it returns everything then
            await queue.cancel(tag)
    tags.clear()
