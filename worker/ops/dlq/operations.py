"""The ``sipline dlq`` operations, each one session over the DLQ of an open broker."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime
from pathlib import Path

from aiolimiter import AsyncLimiter

from worker.ops.dlq import store, transfer
from worker.ops.dlq.broker import DlqBroker
from worker.ops.dlq.filters import Filter
from worker.ops.dlq.model import DeadLetter, Raw
from worker.ops.dlq.replay import DEFAULT_MAX_REPLAYS, Replayer, ReplayReport
from worker.ops.dlq.sinks import ConfirmedExchange
from worker.ops.dlq.store import DeadLetterSession, Held

# Given the number of items, a context that yields the "one more done" callback.
Progress = Callable[[int], AbstractContextManager[Callable[[], None]]]


def _no_progress(total: int) -> AbstractContextManager[Callable[[], None]]:
    return nullcontext(lambda: None)


def _selector(flt: Filter, now: datetime) -> Callable[[DeadLetter], bool]:
    return lambda letter: flt.matches(letter, now)


def _session(broker: DlqBroker) -> DeadLetterSession:
    return DeadLetterSession(channel=broker.channel, queue=broker.dead_letters)


async def each(
    broker: DlqBroker,
    flt: Filter,
    on_letter: Callable[[DeadLetter], None],
    *,
    limit: int | None = None,
) -> int:
    """Hand each selected dead letter to ``on_letter`` as it is read; returns how many.

    The DLQ is left as it was, and memory stays flat however many it holds.
    """
    name = broker.names.dead_letter_queue
    select = _selector(flt, datetime.now(UTC))
    return await store.visit(broker.connection, name, on_letter, select, limit=limit)


async def read(broker: DlqBroker, flt: Filter, *, limit: int | None = None) -> list[DeadLetter]:
    """The selected dead letters, as a list; the DLQ is left as it was."""
    letters: list[DeadLetter] = []
    await each(broker, flt, letters.append, limit=limit)
    return letters


async def find(broker: DlqBroker, letter_id: str) -> DeadLetter | None:
    found = await read(broker, Filter(ids=frozenset({letter_id})), limit=1)
    return found[0] if found else None


async def replay(
    broker: DlqBroker,
    flt: Filter,
    *,
    limit: int | None = None,
    dry_run: bool = False,
    max_replays: int = DEFAULT_MAX_REPLAYS,
    rate: float | None = None,
    progress: Progress = _no_progress,
) -> ReplayReport:
    """Replay the selected dead letters (see :mod:`worker.ops.dlq.replay`)."""
    async with _session(broker) as session:
        held = await session.scan(_selector(flt, datetime.now(UTC)), limit=limit)
        limiter = AsyncLimiter(1, 1 / rate) if rate else None
        with progress(len(held)) as advance:
            replayer = Replayer(
                session=session,
                commands=ConfirmedExchange(exchange=broker.commands),
                events=ConfirmedExchange(exchange=broker.events),
                max_replays=max_replays,
                limiter=limiter,
                on_progress=advance,
            )
            return await replayer.run(held, dry_run=dry_run)


async def export(
    broker: DlqBroker,
    flt: Filter,
    path: Path,
    *,
    limit: int | None = None,
    mask: bool = False,
    remove: bool = False,
) -> int:
    async with _session(broker) as session:
        held = await session.scan(_selector(flt, datetime.now(UTC)), limit=limit)
        return await transfer.export(session, held, path, mask=mask, remove=remove)


async def import_file(
    broker: DlqBroker, path: Path, *, progress: Progress = _no_progress
) -> transfer.ImportReport:
    """Read and check the whole file, then publish its records into the DLQ."""
    records = transfer.read_import(path, exchange=broker.names.dead_letter_exchange)
    return await import_records(broker, records, progress=progress)


async def import_records(
    broker: DlqBroker, records: list[Raw], *, progress: Progress = _no_progress
) -> transfer.ImportReport:
    """Publish records read (and checked) by :func:`transfer.read_import` into the DLQ."""
    with progress(len(records)) as advance:
        return await transfer.import_records(
            records,
            dead_letters=ConfirmedExchange(exchange=broker.dead_letter_exchange),
            on_progress=advance,
        )


async def purge(
    broker: DlqBroker,
    flt: Filter,
    *,
    confirm: Callable[[list[Held]], bool],
    limit: int | None = None,
) -> int | None:
    """Remove the selected dead letters if ``confirm`` (run off the event loop) says so.

    Returns the number purged, or None when the operator declined.
    """
    async with _session(broker) as session:
        held = await session.scan(_selector(flt, datetime.now(UTC)), limit=limit)
        if not held:
            return 0
        if not await asyncio.to_thread(confirm, held):
            return None
        return await transfer.purge(session, held)
