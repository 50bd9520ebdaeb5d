"""Wrap handler results and failures into contract events.

Event ids are derived from the causing command's id, the event type and its position, so a
redelivered command that produces the same events produces them with the same ids: audit
consumers can drop duplicates that at-least-once delivery makes unavoidable.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from contracts import (
    Command,
    CommandFailedData,
    CommandRejectedData,
    Event,
    EventData,
    FieldError,
    dataschema_uri,
    event_for,
)
from worker.errors import BadInput, SiplineError

SOURCE = "urn:sipline:worker"
_NAMESPACE = uuid.UUID("6f1c1b1e-5d2a-4c3b-9a8e-7b6d5c4e3f21")


def event_id(causation: str, event_type: str, subject: str | None, index: int) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{causation}/{event_type}/{subject or ''}/{index}"))


def make_event(
    data: EventData,
    *,
    causation: str | None,
    correlation: str | None,
    portal: str | None,
    subject: str | None,
    index: int = 0,
) -> Event:
    event_type, model = event_for(data)
    return model.model_validate(
        {
            "id": (
                event_id(causation, event_type, subject, index) if causation else str(uuid.uuid4())
            ),
            "type": event_type,
            "source": SOURCE,
            "time": datetime.now(UTC),
            "subject": subject,
            "dataschema": dataschema_uri(event_type, model.SCHEMA_MAJOR),
            "correlationid": correlation,
            "causationid": causation,
            "portal": portal,
            "data": data,
        }
    )


def for_command(command: Command, data: EventData, *, subject: str | None, index: int) -> Event:
    return make_event(
        data,
        causation=command.id,
        correlation=command.correlationid or command.id,
        portal=command.portal,
        subject=subject,
        index=index,
    )


def failed(command: Command, error: SiplineError, *, attempts: int, retryable: bool) -> Event:
    data = CommandFailedData(
        command_type=command.MESSAGE_TYPE,
        error_code=error.code,
        message=error.message,
        retryable=retryable,
        attempts=attempts,
    )
    return for_command(command, data, subject=command.subject, index=0)


def rejected(
    error: BadInput,
    *,
    message_id: str | None,
    correlation: str | None,
    portal: str | None,
    command_type: str | None,
) -> Event:
    data = CommandRejectedData(
        reason=error.reason,
        message=error.message,
        command_type=command_type[:128] if command_type else None,
        errors=[FieldError(field=p.field, problem=p.problem) for p in error.problems[:50]],
    )
    return make_event(
        data,
        causation=message_id,
        correlation=correlation or message_id,
        portal=portal,
        subject=None,
    )
