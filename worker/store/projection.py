"""From the event log to the store: what one event means for the line projection.

:func:`line_change` is the one place that reads line events for the store; the projector
(:mod:`worker.projection`) applies what it returns in batches. Redelivered and replayed
events change nothing (the line repository is idempotent by event id).
"""

from __future__ import annotations

from contracts.events import Event, LineCreated, LineDeleted, LineReconciled, LineUpdated
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
        # a rename carries the new title (contract 1.3.0); older events carry none
        return _change(event, "updated", event.data.config_id, title=event.data.title)
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
