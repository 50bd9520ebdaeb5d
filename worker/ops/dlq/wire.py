"""Whether a message can go on the wire, decided before anything is published.

``dlq import`` checks every record with :func:`check` before it publishes the first one, so a
file is imported whole or not at all. The checks are the ones the AMQP 0-9-1 encoder and
RabbitMQ would apply part way through a run:

* the routing key and every short string property fit in 255 bytes, header names in 128;
* integers fit a signed 64-bit field, decimals the AMQP decimal; no NaN or infinity
  (RabbitMQ cannot decode them and closes the connection);
* header tables nest at most :data:`MAX_DEPTH` levels (the encoder recurses);
* the priority is 0-255 and the timestamp a time after 1970;
* the encoded content header fits in one frame of :data:`FRAME_MAX` bytes, RabbitMQ's default
  ``frame_max`` (a larger header is refused by the broker).

The frames are then actually encoded with the same encoder the publish uses (pamqp), so
what passes here is what the publish will send.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from aio_pika import Message
from pamqp import commands, frame
from pamqp.header import ContentHeader

FRAME_MAX = 131_072
FRAME_OVERHEAD = 8
MAX_DEPTH = 32
_INT64 = (-(2**63), 2**63 - 1)
_SCALARS = (str, bool, bytes, bytearray, type(None))


def wire_value(value: Any) -> Any:
    """A header value as the encoder takes it: bytes become a byte array.

    pamqp delivers a long string that is not UTF-8 as ``bytes`` but encodes only ``str``
    and ``bytearray``: sending it as a byte array keeps every byte.
    """
    if isinstance(value, bytes):
        return bytearray(value)
    if isinstance(value, Mapping):
        return {key: wire_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [wire_value(item) for item in value]
    return value


def _problem(path: str, value: Any) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and not _INT64[0] <= value <= _INT64[1]:
        return f"header {path}: integer {value} does not fit in 64 bits"
    if isinstance(value, float) and not math.isfinite(value):
        return f"header {path}: {value} cannot be sent (NaN and infinity are not allowed)"
    if isinstance(value, Decimal) and not value.is_finite():
        return f"header {path}: decimal {value} cannot be sent"
    return None


def check_headers(headers: Mapping[str, Any]) -> None:
    """Raise ``ValueError`` naming the first header value that cannot be encoded."""
    stack: list[tuple[str, Any, int]] = [(name, value, 1) for name, value in headers.items()]
    for name in headers:
        if len(str(name).encode()) > 128:
            raise ValueError(f"header name {str(name)[:40]!r}... is longer than 128 bytes")
    while stack:
        path, value, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ValueError(f"header {path.split('.')[0]}: nested deeper than {MAX_DEPTH}")
        if (problem := _problem(path, value)) is not None:
            raise ValueError(problem)
        if isinstance(value, Mapping):
            for key, item in value.items():
                if len(str(key).encode()) > 128:
                    raise ValueError(f"header {path}: a key is longer than 128 bytes")
                stack.append((f"{path}.{key}", item, depth + 1))
        elif isinstance(value, list | tuple):
            stack.extend((f"{path}[{i}]", item, depth + 1) for i, item in enumerate(value))


_SHORT_STRINGS = (
    "content_type",
    "content_encoding",
    "message_id",
    "correlation_id",
    "type",
    "app_id",
    "reply_to",
)


def check_properties(message: Message) -> None:
    """Raise ``ValueError`` naming the first property that cannot be encoded."""
    for name in _SHORT_STRINGS:
        value = getattr(message, name)
        if value is not None and len(str(value).encode()) > 255:
            raise ValueError(f"properties.{name} is longer than 255 bytes")
    if message.priority is not None and not 0 <= message.priority <= 255:
        raise ValueError(f"properties.priority is {message.priority} (AMQP allows 0-255)")
    stamp = message.timestamp
    if stamp is not None and not 0 <= stamp.timestamp() < 2**63:
        raise ValueError(f"properties.timestamp {stamp.isoformat()} is before 1970")


def check(message: Message, *, exchange: str, routing_key: str) -> None:
    """Raise ``ValueError`` saying why ``message`` cannot be published as given."""
    if len(routing_key.encode()) > 255:
        raise ValueError(f"routing key is {len(routing_key.encode())} bytes (at most 255)")
    check_properties(message)
    check_headers(message.headers)
    try:
        frame.marshal(
            commands.Basic.Publish(exchange=exchange, routing_key=routing_key, mandatory=True), 1
        )
        header = frame.marshal(ContentHeader(properties=message.properties, body_size=1), 1)
    except (TypeError, ValueError, OverflowError, struct.error, RecursionError) as exc:
        raise ValueError(f"cannot be encoded for AMQP: {str(exc)[:200]}") from None
    if len(header) > FRAME_MAX - FRAME_OVERHEAD:
        raise ValueError(
            f"properties and headers take {len(header)} bytes; one frame holds {FRAME_MAX}"
        )
