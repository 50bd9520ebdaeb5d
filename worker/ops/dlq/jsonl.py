"""The export file: one JSON object per line, one dead letter per object.

::

    {"format": "sipline.dlq/1", "id": "...", "reason": "...",          (id, reason: for people)
     "routing_key": "line.create", "masked": false,
     "properties": {"content_type": ..., "message_id": ..., "timestamp": "2026-...", ...},
     "headers": {"x-sipline-reason": "invalid_field", "x-death": [...], ...},
     "body": "{...}", "body_encoding": "utf-8"}                         (or "base64")

The body is kept byte for byte: as text when it is valid UTF-8, else base64. Header values
JSON cannot hold are tagged: ``{"$bytes": base64}``, ``{"$time": iso}``,
``{"$decimal": "1.5"}``, and a table with a key starting with ``$`` is ``{"$table": {...}}``.

An export contains passwords unless written with ``--mask-secrets``; a masked export is for
reading, and importing it is refused (it would put masked passwords on real lines).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from worker.ops.dlq.masking import mask_bytes, mask_value
from worker.ops.dlq.model import DeadLetter, Properties, Raw

FORMAT = "sipline.dlq/1"


def encode_value(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return {"$bytes": base64.b64encode(value).decode()}
    if isinstance(value, datetime):
        return {"$time": value.isoformat()}
    if isinstance(value, Decimal):
        return {"$decimal": str(value)}
    if isinstance(value, list | tuple):
        return [encode_value(v) for v in value]
    if isinstance(value, dict):
        table = {str(k): encode_value(v) for k, v in value.items()}
        return {"$table": table} if any(k.startswith("$") for k in table) else table
    return value


_DECODERS: dict[str, Callable[[Any], Any]] = {
    "$bytes": lambda inner: base64.b64decode(inner, validate=True),
    "$time": datetime.fromisoformat,
    "$decimal": Decimal,
    "$table": lambda inner: {k: decode_value(v) for k, v in inner.items()},
}


def decode_value(value: Any) -> Any:
    if isinstance(value, list):
        return [decode_value(v) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        (tag, inner), *_ = value.items()
        if tag in _DECODERS:
            return _DECODERS[tag](inner)
    return {k: decode_value(v) for k, v in value.items()}


def _properties(props: Properties) -> dict[str, Any]:
    return {
        "content_type": props.content_type,
        "content_encoding": props.content_encoding,
        "message_id": props.message_id,
        "correlation_id": props.correlation_id,
        "type": props.type,
        "timestamp": props.timestamp.isoformat() if props.timestamp else None,
        "app_id": props.app_id,
        "reply_to": props.reply_to,
        "priority": props.priority,
        "persistent": props.persistent,
    }


def encode(letter: DeadLetter, *, mask: bool = False) -> str:
    """One line (without the newline) for ``letter``."""
    raw = letter.raw
    body = mask_bytes(raw.body) if mask else raw.body
    headers = mask_value(dict(raw.headers)) if mask else dict(raw.headers)
    try:
        body_text, body_encoding = body.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        body_text, body_encoding = base64.b64encode(body).decode(), "base64"
    record = {
        "format": FORMAT,
        "id": letter.id,
        "reason": letter.reason,
        "routing_key": raw.routing_key,
        "masked": mask,
        "properties": _properties(raw.properties),
        "headers": encode_value(headers),
        "body": body_text,
        "body_encoding": body_encoding,
    }
    return json.dumps(record, ensure_ascii=False)


def _str_or_none(props: dict[str, Any], key: str) -> str | None:
    value = props.get(key)
    if value is not None and not isinstance(value, str):
        raise ValueError(f"properties.{key} must be a string")
    return value


def _decode_properties(props: dict[str, Any]) -> Properties:
    stamp = _str_or_none(props, "timestamp")
    priority = props.get("priority")
    if priority is not None and not isinstance(priority, int):
        raise ValueError("properties.priority must be an integer")
    return Properties(
        content_type=_str_or_none(props, "content_type"),
        content_encoding=_str_or_none(props, "content_encoding"),
        message_id=_str_or_none(props, "message_id"),
        correlation_id=_str_or_none(props, "correlation_id"),
        type=_str_or_none(props, "type"),
        timestamp=datetime.fromisoformat(stamp) if stamp else None,
        app_id=_str_or_none(props, "app_id"),
        reply_to=_str_or_none(props, "reply_to"),
        priority=priority,
        persistent=bool(props.get("persistent", True)),
    )


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def decode(line: str) -> Raw:
    """The message a line describes; ``ValueError`` says what is wrong with it."""
    try:
        return _decode(line)
    except RecursionError:
        raise ValueError("nested too deeply to read") from None
    except ArithmeticError as exc:  # decimal.InvalidOperation
        raise ValueError(f"not a decimal: {exc}") from None


def _decode(line: str) -> Raw:
    record = json.loads(line, parse_constant=_no_constant)
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise ValueError(f"not a {FORMAT} record")
    if record.get("masked"):
        raise ValueError("this record was exported with --mask-secrets and cannot be imported")
    body = record.get("body")
    routing_key = record.get("routing_key")
    headers = decode_value(record.get("headers") or {})
    props = record.get("properties") or {}
    if not isinstance(body, str) or not isinstance(routing_key, str):
        raise ValueError("body and routing_key must be strings")
    if not isinstance(headers, dict) or not isinstance(props, dict):
        raise ValueError("headers and properties must be objects")
    encoding = record.get("body_encoding", "utf-8")
    if encoding == "utf-8":
        data = body.encode("utf-8")
    elif encoding == "base64":
        data = base64.b64decode(body, validate=True)
    else:
        raise ValueError(f"unknown body_encoding {encoding!r}")
    return Raw(
        body=data,
        routing_key=routing_key,
        properties=_decode_properties(props),
        headers=headers,
    )
