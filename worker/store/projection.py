"""From the event log to the store: what one event means for the line projection.

A consumer of the event-log stream does, per event::

    async with store.unit_of_work() as uow:
        changed = await project(uow, event)
        await uow.commit()
    # then remember the stream offset (after the commit: at-least-once)

Redelivered and replayed events change nothing (the line repository is idempotent by event
id), so the offset may lag the commits and a crash in between costs only a re-read. A
rebuild is ``uow.lines.clear()`` and a read from the stream's first offset.
"""

from __future__ import annotations

from contracts.events import Event, LineCreated, LineDeleted, LineReconciled, LineUpdated
from worker.store.ports import UnitOfWork
from worker.store.records import LineChange, LineChangeKind


def line_change(event: Event) -> LineChange | None:
    """The projection's view of an event; None for events about no single line."""
    if event.portal is None:
        return None
    if isinstance(event, LineCreated):
        created = event.data
        return _change(
            event,
            "created",
            created.config_id,
            title=created.title,
            line_type=created.line_type,
            reg_id=created.reg_id,
        )
    if isinstance(event, LineUpdated):
        return _change(event, "updated", event.data.config_id)
    if isinstance(event, LineDeleted):
        return _change(event, "deleted", event.data.config_id)
    if isinstance(event, LineReconciled):
        checked = event.data
        return _change(
            event,
            "reconciled",
            checked.config_id,
            reg_id=checked.reg_id,
            verdict=checked.verdict.value,
            findings=list(checked.findings),
        )
    return None


def _change(
    event: Event,
    kind: LineChangeKind,
    config_id: int,
    *,
    title: str | None = None,
    line_type: str | None = None,
    reg_id: int | None = None,
    verdict: str | None = None,
    findings: list[str] | None = None,
) -> LineChange:
    assert event.portal is not None
    return LineChange(
        event_id=event.id,
        occurred_at=event.time,
        portal=event.portal,
        config_id=config_id,
        kind=kind,
        command_id=event.causationid,
        title=title,
        line_type=line_type,
        reg_id=reg_id,
        verdict=verdict,
        findings=findings or [],
    )


async def project(uow: UnitOfWork, event: Event) -> bool:
    """Apply one event inside the caller's unit of work; False when it changed nothing.

    A ``line.created`` also records its command id → line, so a redelivered
    ``line.create`` can find the line it made even after a rename.
    """
    change = line_change(event)
    if change is None:
        return False
    if change.kind == "created" and change.command_id is not None:
        await uow.creates.record(
            change.command_id, portal=change.portal, config_id=change.config_id
        )
    return await uow.lines.apply(change)
