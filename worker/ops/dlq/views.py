"""JSON-ready views of dead letters for ``--json`` output; passwords always masked."""

from __future__ import annotations

import base64
from datetime import datetime
from decimal import Decimal
from typing import Any

from worker.ops.dlq.masking import mask_value, masked_body
from worker.ops.dlq.model import DeadLetter
from worker.ops.dlq.summary import Group


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _bytes(value: bytes | bytearray) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return "base64:" + base64.b64encode(value).decode()


def plain(value: Any) -> Any:
    """A header value as plain JSON (bytes as text, times as ISO 8601)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, bytes | bytearray):
        return _bytes(value)
    if isinstance(value, datetime | Decimal):
        return value.isoformat() if isinstance(value, datetime) else str(value)
    return value


def row(letter: DeadLetter, now: datetime) -> dict[str, Any]:
    """The fields of ``sipline dlq list``."""
    age = letter.age(now)
    return {
        "id": letter.id,
        "type": letter.type,
        "portal": letter.portal,
        "reason": letter.reason,
        "attempts": letter.attempts,
        "replay_count": letter.replay_count,
        "first_failure": _iso(letter.first_failure),
        "last_failure": _iso(letter.last_failure),
        "age_seconds": None if age is None else round(age.total_seconds()),
        "error_code": letter.error_code,
        "broker_made": letter.broker_made,
    }


def detail(letter: DeadLetter, now: datetime) -> dict[str, Any]:
    """Everything ``sipline dlq show`` prints."""
    props = letter.raw.properties
    return {
        **row(letter, now),
        "error_message": letter.error_message,
        "field_errors": letter.field_errors,
        "history": letter.history,
        "routing_key": letter.raw.routing_key,
        "replay_routing_key": letter.replay_routing_key,
        "properties": {
            "content_type": props.content_type,
            "message_id": props.message_id,
            "correlation_id": props.correlation_id,
            "type": props.type,
            "timestamp": _iso(props.timestamp),
            "app_id": props.app_id,
            "persistent": props.persistent,
        },
        "headers": mask_value(plain(dict(letter.raw.headers))),
        "body": masked_body(letter.raw.body),
    }


def group(item: Group) -> dict[str, Any]:
    return {
        "reason": item.reason,
        "type": item.type,
        "count": item.count,
        "first_failure": _iso(item.first_failure),
        "last_failure": _iso(item.last_failure),
    }
