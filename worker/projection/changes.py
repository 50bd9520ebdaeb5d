"""What a run of events from the event log does to the store.

Line events move rows (:func:`worker.store.projection.line_change` says how; the rows are
written by :meth:`LineRepository.apply_many`, a few statements per batch); a ``line.created``
also records its command id → line, so a redelivered ``line.create`` finds the line it made
even after a rename; ``portal.swept`` moves the time of the last sweep (the latest of all,
and each portal's own, kept by the sweep schedule's table); anything else
changes nothing here.
"""

from __future__ import annotations

from collections.abc import Sequence

from contracts.events import Event, PortalSwept
from worker.store import LineChange, UnitOfWork
from worker.store.projection import line_change


async def apply_events(uow: UnitOfWork, events: Sequence[Event]) -> int:
    """Apply ``events`` in order inside the caller's unit of work; rows changed."""
    changes: list[LineChange] = []
    creates: list[tuple[str, str, int]] = []
    sweep: PortalSwept | None = None
    swept: dict[str, PortalSwept] = {}
    for event in events:
        if isinstance(event, PortalSwept) and event.portal is not None:
            if sweep is None or event.time >= sweep.time:
                sweep = event
            if event.portal not in swept or event.time >= swept[event.portal].time:
                swept[event.portal] = event
            continue
        change = line_change(event)
        if change is None:
            continue
        changes.append(change)
        if change.kind == "created" and change.command_id is not None:
            creates.append((change.command_id, change.portal, change.config_id))
    await uow.creates.record_many(creates)
    if sweep is not None and sweep.portal is not None:
        await uow.lines.note_sweep(sweep.portal, sweep.time)
    for portal, event in swept.items():
        await uow.schedule.note_swept(portal, event.time)
    return await uow.lines.apply_many(changes) if changes else 0


async def apply_event(uow: UnitOfWork, event: Event) -> bool:
    """One event (see :func:`apply_events`); True when it changed a line."""
    return await apply_events(uow, [event]) > 0
