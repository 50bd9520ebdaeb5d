"""The AMQP headers the worker owns, and how a failure is recorded in them.

RabbitMQ 4 ignores a republished ``x-death``, so the attempt count and the failure history
live in ``x-sipline-*`` headers that only the worker writes. ``sipline dlq`` reads them.
No header ever carries a message body value: only codes, reasons and field names.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from worker.adapters.amqp.topology import DELAY_HEADER
from worker.errors import BadInput, SiplineError

PREFIX = "x-sipline-"
ATTEMPT = "x-sipline-attempt"
REASON = "x-sipline-reason"
ERROR_CODE = "x-sipline-error-code"
ERROR_MESSAGE = "x-sipline-error-message"
FIELD_ERRORS = "x-sipline-field-errors"
FIRST_FAILURE = "x-sipline-first-failure"
LAST_FAILURE = "x-sipline-last-failure"
FAILURES = "x-sipline-failures"
WORKER_VERSION = "x-sipline-worker-version"
ORIGINAL_EXCHANGE = "x-sipline-original-exchange"
ORIGINAL_ROUTING_KEY = "x-sipline-original-routing-key"
REPLAY_COUNT = "x-sipline-replay-count"
DELAY = DELAY_HEADER

HISTORY_LIMIT = 20

# Headers that describe a failure; a replay strips them so the copy starts afresh.
FAILURE_HEADERS = frozenset(
    {
        ATTEMPT,
        REASON,
        ERROR_CODE,
        ERROR_MESSAGE,
        FIELD_ERRORS,
        FIRST_FAILURE,
        LAST_FAILURE,
        FAILURES,
        WORKER_VERSION,
        ORIGINAL_EXCHANGE,
        ORIGINAL_ROUTING_KEY,
        DELAY,
    }
)
BROKER_HEADERS = frozenset(
    {
        "x-death",
        "x-delivery-count",
        "x-first-death-exchange",
        "x-first-death-queue",
        "x-first-death-reason",
        "x-last-death-exchange",
        "x-last-death-queue",
        "x-last-death-reason",
    }
)


def attempt_of(headers: Mapping[str, Any]) -> int:
    """The attempt this delivery is (1 for a command never retried)."""
    value = headers.get(ATTEMPT)
    try:
        return max(int(value), 1) if value is not None else 1
    except (TypeError, ValueError):
        return 1


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def failure_history(headers: Mapping[str, Any]) -> list[dict[str, Any]]:
    raw = headers.get(FAILURES)
    if raw is None:
        return []
    try:
        history = json.loads(_text(raw))
    except ValueError:
        return []
    return history if isinstance(history, list) else []


def carried(headers: Mapping[str, Any]) -> dict[str, Any]:
    """The headers a retry or a dead letter keeps: the publisher's own, less the broker's."""
    return {k: v for k, v in headers.items() if k not in BROKER_HEADERS}


def record_failure(
    headers: Mapping[str, Any],
    error: SiplineError,
    *,
    attempt: int,
    reason: str,
    exchange: str,
    routing_key: str,
    version: str,
    now: datetime | None = None,
) -> dict[str, Any]:
    """New headers for a message that failed: attempt, reason, history, origin."""
    at = (now or datetime.now(UTC)).isoformat()
    history = failure_history(headers)
    history.append({"at": at, "attempt": attempt, "code": error.code, "message": error.message})
    out = carried(headers)
    out.update(
        {
            ATTEMPT: attempt,
            REASON: reason,
            ERROR_CODE: error.code,
            ERROR_MESSAGE: error.message[:1000],
            FIRST_FAILURE: _text(headers.get(FIRST_FAILURE, at)),
            LAST_FAILURE: at,
            FAILURES: json.dumps(history[-HISTORY_LIMIT:]),
            WORKER_VERSION: version,
            ORIGINAL_EXCHANGE: _text(headers.get(ORIGINAL_EXCHANGE, exchange)),
            ORIGINAL_ROUTING_KEY: _text(headers.get(ORIGINAL_ROUTING_KEY, routing_key)),
        }
    )
    if isinstance(error, BadInput):
        out[FIELD_ERRORS] = json.dumps(
            [{"field": p.field, "problem": p.problem} for p in error.problems[:50]]
        )
    out.pop(DELAY, None)
    return out
