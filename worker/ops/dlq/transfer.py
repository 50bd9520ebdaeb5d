"""Export to a JSON Lines file, import from one, purge.

``export --remove`` acks the exported dead letters only after the file is written, flushed
and fsynced; ``import`` reads every line and checks that it can be published as it stands
(:mod:`worker.ops.dlq.wire`) before publishing any, then publishes each to the dead-letter
exchange with confirms. Only the broker itself can still stop an import part way (a
connection lost, a publish refused): the report then says how many were imported, and
importing the rest means editing the file or accepting duplicates. Purging acks the
selected dead letters: it is the one operation that loses messages on purpose, hence the
confirmation the CLI asks for.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from worker.ops.dlq import jsonl, wire
from worker.ops.dlq.errors import DlqError
from worker.ops.dlq.model import Raw
from worker.ops.dlq.sinks import Sink, message_from
from worker.ops.dlq.store import DeadLetterSession, Held


def write_export(held: Iterable[Held], path: Path, *, mask: bool) -> int:
    """Write a new file (never overwrite one) and fsync it; returns the number of lines."""
    count = 0
    try:
        handle = path.open("x", encoding="utf-8", newline="\n")
    except FileExistsError as exc:
        raise DlqError(f"{path} exists; choose a new file name") from exc
    with handle:
        for item in held:
            handle.write(jsonl.encode(item.letter, mask=mask) + "\n")
            count += 1
        handle.flush()
        os.fsync(handle.fileno())
    return count


async def export(
    session: DeadLetterSession, held: list[Held], path: Path, *, mask: bool, remove: bool
) -> int:
    """Export ``held``; with ``remove``, ack them once the file is safely on disk."""
    if remove and mask:
        raise DlqError("--remove with --mask-secrets would lose the real bodies")
    count = write_export(held, path, mask=mask)
    if remove:
        for item in held:
            await session.remove(item)
    return count


def read_import(path: Path, *, exchange: str = "") -> list[Raw]:
    """Every record of the file, each checked to be publishable as it stands.

    Raises ``DlqError`` naming the first line that cannot be read or could not be sent, so
    that nothing is published from a file that would stop part way.
    """
    records: list[Raw] = []
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise DlqError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    with handle:
        for number, data in enumerate(handle, start=1):
            try:
                raw = _record(data, exchange)
            except (ValueError, TypeError, KeyError, AttributeError) as exc:
                raise DlqError(f"{path}:{number}: {exc}") from None
            if raw is not None:
                records.append(raw)
    return records


def _record(data: bytes, exchange: str) -> Raw | None:
    try:
        line = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("not UTF-8 text (is this an export file?)") from None
    if not line.strip():
        return None
    raw = jsonl.decode(line)
    wire.check(
        message_from(raw, headers=raw.headers), exchange=exchange, routing_key=raw.routing_key
    )
    return raw


@dataclass(slots=True)
class ImportReport:
    imported: int
    total: int
    error: str | None = None


async def import_records(
    records: list[Raw], *, dead_letters: Sink, on_progress: Callable[[], None] | None = None
) -> ImportReport:
    """Publish each record to the dead-letter exchange with its routing key, confirmed."""
    report = ImportReport(imported=0, total=len(records))
    for raw in records:
        try:
            await dead_letters.publish(
                message_from(raw, headers=raw.headers), routing_key=raw.routing_key
            )
        except Exception as exc:
            report.error = f"record {report.imported + 1}: {type(exc).__name__}: {exc}"
            return report
        report.imported += 1
        if on_progress is not None:
            on_progress()
    return report


async def purge(session: DeadLetterSession, held: list[Held]) -> int:
    for item in held:
        await session.remove(item)
    return len(held)
