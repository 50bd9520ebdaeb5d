"""Read the event-log stream and fold it into the store, batch by batch.

One batch is one unit of work: every event in it is applied (idempotently, by event id) and
the offset of its last record is stored with the rows (:meth:`LineRepository.advance`).
So nothing is lost when a process dies mid-way (the next start reads on from the last
committed offset) and nothing is applied twice (the repository skips event ids it knows,
and the publisher gives a redelivered outcome the same id). A batch is what has arrived
while the previous one was committing, up to ``batch_size``: at a trickle every event is
committed on its own within milliseconds; under load the batches grow and the commits stay
few.

Several processes may run a projector on the same store at once (every ``sipline run`` of a
fleet does): each event is applied once by whichever gets there first, a row never goes
back to an older event (the repository compares event times), and the stored position
never moves back. The cost of N projectors is N reads of the stream and N-1 no-op
inserts per event, which the figures in docs/performance.md show is small next to the work.

After a reconnect of the robust connection the stream consumer is gone; :meth:`run` starts
a new read from the stored position. A store that is briefly unavailable is retried the
same way, with a backoff.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import aiormq.exceptions
from aio_pika.abc import AbstractConnection, AbstractRobustConnection
from aio_pika.exceptions import AMQPError

from worker.errors import SiplineError
from worker.ops.events.positions import Start
from worker.ops.events.reader import StreamReader, StreamRecord
from worker.ops.events.record import LoggedEvent
from worker.projection.changes import apply_events
from worker.store import Store

log = logging.getLogger(__name__)

_END = None  # what the pump puts on the queue when a read ends


@dataclass(frozen=True, slots=True)
class Batch:
    """What one committed batch did, for metrics, tests and the benchmark."""

    first_offset: int
    last_offset: int
    events: int
    changed: int
    skipped: int  # records that are not a contract event (kept in the log, not projected)
    oldest_event: datetime | None  # the earliest event time in the batch (lag = now - this)
    committed_at: datetime


OnBatch = Callable[[Batch], None]


class Projector:
    """Applies the event log ``stream`` to ``store``; ``catch_up`` once, or ``run`` for good."""

    def __init__(
        self,
        *,
        store: Store,
        connection: AbstractConnection,
        stream: str,
        batch_size: int = 500,
        prefetch: int = 1000,
        retry_delay: float = 1.0,
        on_batch: OnBatch | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._connection = connection
        self._stream = stream
        self._batch_size = batch_size
        self._prefetch = prefetch
        self._retry_delay = retry_delay
        self._on_batch = on_batch
        self._clock = clock
        self._session: asyncio.Task[int] | None = None
        #: the offset of the last committed record; None before the first commit
        self.position: int | None = None
        #: set once the first read is attached to the stream (tests wait on it)
        self.attached = asyncio.Event()

    async def rebuild(self) -> int:
        """Forget the projection and read the stream from its first offset; events applied."""
        async with self._store.unit_of_work() as uow:
            await uow.lines.clear()
            await uow.commit()
        self.position = None
        return await self.catch_up()

    async def catch_up(self) -> int:
        """Apply what the stream holds past the stored position; returns events applied."""
        return await self._read(follow=False)

    async def run(self) -> None:
        """Follow the stream until cancelled; start again after a reconnect or an error."""
        if isinstance(self._connection, AbstractRobustConnection):
            self._connection.reconnect_callbacks.add(self._on_reconnect)
        try:
            while True:
                self._session = asyncio.create_task(self._read(follow=True))
                try:
                    await self._session
                except asyncio.CancelledError:
                    if not self._session.cancelled() or _current_cancelling():
                        raise
                    log.info("event log read restarts after a reconnect")
                except (SiplineError, AMQPError, aiormq.exceptions.AMQPError, OSError) as exc:
                    log.warning(
                        "projection paused",
                        extra={"error": type(exc).__name__, "retry_in": self._retry_delay},
                    )
                    await asyncio.sleep(self._retry_delay)
                except Exception:
                    # a bug here must not end the worker's command processing with it; it
                    # is logged with its traceback and retried from the stored position
                    log.exception("projection failed", extra={"retry_in": self._retry_delay})
                    await asyncio.sleep(self._retry_delay)
        finally:
            if isinstance(self._connection, AbstractRobustConnection):
                self._connection.reconnect_callbacks.discard(self._on_reconnect)
            if self._session is not None and not self._session.done():
                self._session.cancel()
                await asyncio.gather(self._session, return_exceptions=True)

    def _on_reconnect(self, *_: object) -> None:
        if self._session is not None and not self._session.done():
            self._session.cancel()

    async def _start(self) -> Start:
        async with self._store.unit_of_work(readonly=True) as uow:
            stored = await uow.lines.position(self._stream)
        self.position = stored
        return "first" if stored is None else stored + 1

    async def _read(self, *, follow: bool) -> int:
        start = await self._start()
        inbox: asyncio.Queue[StreamRecord | None] = asyncio.Queue(maxsize=self._prefetch)
        async with StreamReader(
            connection=self._connection,
            queue=self._stream,
            start=start,
            follow=follow,
            prefetch=self._prefetch,
        ) as reader:
            pump = asyncio.create_task(self._pump(reader, inbox))
            try:
                await _first_of(reader.attached.wait(), pump)
                self.attached.set()
                return await self._apply_all(inbox, pump)
            finally:
                pump.cancel()
                await asyncio.gather(pump, return_exceptions=True)

    @staticmethod
    async def _pump(reader: StreamReader, inbox: asyncio.Queue[StreamRecord | None]) -> None:
        async for record in reader:
            await inbox.put(record)
        await inbox.put(_END)

    async def _apply_all(
        self, inbox: asyncio.Queue[StreamRecord | None], pump: asyncio.Task[None]
    ) -> int:
        applied = 0
        while True:
            first = await _get_or_fail(inbox, pump)
            if first is None:
                return applied
            records = [first]
            ended = False
            while len(records) < self._batch_size and not inbox.empty():
                record = inbox.get_nowait()
                if record is None:
                    ended = True
                    break
                records.append(record)
            applied += await self._commit(records)
            if ended:
                return applied

    async def _commit(self, records: list[StreamRecord]) -> int:
        events = []
        for record in records:
            parsed = LoggedEvent.parse(record.offset, record.body)
            if parsed.event is not None:
                events.append(parsed.event)
        async with self._store.unit_of_work() as uow:
            changed = await apply_events(uow, events)
            await uow.lines.advance(self._stream, records[-1].offset)
            await uow.commit()
        self.position = records[-1].offset
        if self._on_batch is not None:
            self._on_batch(
                Batch(
                    first_offset=records[0].offset,
                    last_offset=records[-1].offset,
                    events=len(records),
                    changed=changed,
                    skipped=len(records) - len(events),
                    oldest_event=min((e.time for e in events), default=None),
                    committed_at=self._clock(),
                )
            )
        return len(records)


def _current_cancelling() -> int:
    task = asyncio.current_task()
    return 0 if task is None else task.cancelling()


async def _first_of(waiting: Awaitable[object], pump: asyncio.Task[None]) -> None:
    """Wait for ``waiting``, or for the pump to fail first (re-raised)."""
    waiter = asyncio.ensure_future(waiting)
    try:
        await asyncio.wait({waiter, pump}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
    if pump.done() and not pump.cancelled() and pump.exception() is not None:
        raise pump.exception()  # type: ignore[misc]


async def _get_or_fail(
    inbox: asyncio.Queue[StreamRecord | None], pump: asyncio.Task[None]
) -> StreamRecord | None:
    """The next record; the pump's error if it failed with nothing left to take."""
    if not inbox.empty():
        return inbox.get_nowait()
    getter = asyncio.ensure_future(inbox.get())
    try:
        await asyncio.wait({getter, pump}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if not getter.done():
            getter.cancel()
    if getter.done() and not getter.cancelled():
        return getter.result()
    if pump.exception() is not None:
        raise pump.exception()  # type: ignore[misc]
    return inbox.get_nowait() if not inbox.empty() else None
