"""A dead letter as an operator sees it, parsed from one AMQP message.

Two kinds of dead letters land in ``<p>.commands.dlq``:

* the worker's own, with ``x-sipline-*`` headers (reason, attempts, failure history);
* the broker's, for poison messages over the command queue's delivery limit, with only
  ``x-death`` / ``x-first-death-reason: delivery_limit``.

Parsing never fails: a body that is not UTF-8 or not JSON still yields a ``DeadLetter``
(portal unknown, id from the message properties or a digest of the body). The fields shown
to people (error message, field errors, history) are read from the headers and masked
whenever they are asked for: a producer can forge any header.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from contracts.envelope import PORTAL_PATTERN
from worker.ops.dlq.masking import mask_text, mask_value
from worker.runtime import headers as h

_PORTAL = re.compile(PORTAL_PATTERN)
_ID = re.compile(r"^[\x21-\x7e]{1,128}$")
BROKER_REASON_HEADER = "x-first-death-reason"


@dataclass(frozen=True, slots=True)
class Properties:
    """The AMQP properties a dead letter keeps and a replay or an import restores."""

    content_type: str | None = None
    content_encoding: str | None = None
    message_id: str | None = None
    correlation_id: str | None = None
    type: str | None = None
    timestamp: datetime | None = None
    app_id: str | None = None
    reply_to: str | None = None
    priority: int | None = None
    persistent: bool = True


@dataclass(frozen=True, slots=True)
class Raw:
    """What the broker delivered: enough to rebuild the message byte for byte."""

    body: bytes
    routing_key: str
    properties: Properties
    headers: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One dead letter: who it is, why it died, and the message itself (``raw``)."""

    id: str
    type: str
    portal: str | None
    reason: str
    attempts: int | None
    first_failure: datetime | None
    last_failure: datetime | None
    replay_count: int
    replay_routing_key: str
    error_code: str | None
    broker_made: bool
    raw: Raw = field(repr=False)

    # Read from the headers (and masked) when asked: a listing shows none of them.
    @property
    def error_message(self) -> str | None:
        value = self.raw.headers.get(h.ERROR_MESSAGE)
        return None if value is None else str(mask_text(text(value)))

    @property
    def field_errors(self) -> list[dict[str, Any]]:
        return list(mask_value(_json_list(self.raw.headers.get(h.FIELD_ERRORS))))

    @property
    def history(self) -> list[dict[str, Any]]:
        headers = self.raw.headers
        if self.broker_made:
            entries = _broker_history(_broker_deaths(headers))
        else:
            entries = _json_list(headers.get(h.FAILURES))
        return list(mask_value(entries))

    def age(self, now: datetime) -> timedelta | None:
        """How long it has been a dead letter (since its last failure)."""
        at = self.last_failure or self.first_failure or self.raw.properties.timestamp
        return None if at is None else now - at

    @property
    def event_id_safe(self) -> str | None:
        """The id when it may serve as an event's causation id, else None."""
        return self.id if _ID.match(self.id) and not self.id.startswith("sha256:") else None


def text(value: Any) -> str:
    """A header value as text (pamqp hands long strings over as bytes when not UTF-8)."""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _printable(value: Any, limit: int = 128) -> str | None:
    if value is None:
        return None
    out = text(value)
    return out[:limit] if out and out.isprintable() else None


def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 header value or an AMQP timestamp, always timezone-aware."""
    if value is None:
        return None
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(text(value))
        except ValueError:
            return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def decode_body(body: bytes) -> dict[str, Any] | None:
    """The body as a JSON object, or None when it is not one."""
    try:
        decoded = json.loads(body)
    except (ValueError, RecursionError):
        return None
    return decoded if isinstance(decoded, dict) else None


def _identity(raw: Raw, decoded: dict[str, Any] | None) -> str:
    for candidate in (raw.properties.message_id, (decoded or {}).get("id")):
        if isinstance(candidate, str) and _ID.match(candidate):
            return candidate
    return "sha256:" + hashlib.sha256(raw.body).hexdigest()[:16]


def _portal(decoded: dict[str, Any] | None) -> str | None:
    value = (decoded or {}).get("portal")
    if isinstance(value, str) and len(value) <= 253 and _PORTAL.match(value):
        return value.lower()
    return None


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError, OverflowError):
        return None


def _json_list(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    try:
        decoded = json.loads(text(value))
    except (ValueError, RecursionError):
        return []
    if not isinstance(decoded, list):
        return []
    return [item for item in decoded if isinstance(item, dict)]


def _broker_deaths(headers: Mapping[str, Any]) -> list[dict[str, Any]]:
    deaths = headers.get("x-death")
    if not isinstance(deaths, list):
        return []
    return [d for d in deaths if isinstance(d, dict)]


def _broker_history(deaths: list[dict[str, Any]]) -> list[dict[str, Any]]:
    history = []
    for death in deaths:
        at = parse_time(death.get("time"))
        history.append(
            {
                "at": at.isoformat() if at else None,
                "count": _int(death.get("count")),
                "code": text(death.get("reason", "")),
                "message": f"dead-lettered by the broker from {text(death.get('queue', '?'))}",
            }
        )
    return history


def parse(raw: Raw) -> DeadLetter:
    """Build the operator's view of one dead letter; never raises."""
    hdrs = raw.headers
    decoded = decode_body(raw.body)
    sipline = h.REASON in hdrs
    deaths = _broker_deaths(hdrs)
    broker_times = [t for t in (parse_time(d.get("time")) for d in deaths) if t is not None]
    if sipline:
        reason = text(hdrs[h.REASON])
        first = parse_time(hdrs.get(h.FIRST_FAILURE))
        last = parse_time(hdrs.get(h.LAST_FAILURE))
    else:
        reason = text(hdrs.get(BROKER_REASON_HEADER, "unknown"))
        first = min(broker_times, default=None)
        last = max(broker_times, default=None)
    routing_key = _printable(hdrs.get(h.ORIGINAL_ROUTING_KEY), 255) or raw.routing_key
    return DeadLetter(
        id=_identity(raw, decoded),
        type=_printable(routing_key) or _printable(raw.properties.type) or "?",
        portal=_portal(decoded),
        reason=reason,
        attempts=_int(hdrs.get(h.ATTEMPT)),
        first_failure=first,
        last_failure=last,
        replay_count=max(_int(hdrs.get(h.REPLAY_COUNT)) or 0, 0),
        replay_routing_key=routing_key,
        error_code=_printable(hdrs.get(h.ERROR_CODE)),
        broker_made=not sipline,
        raw=raw,
    )
