"""The ``x-sipline-*`` AMQP headers: the one module that names, reads, checks and writes them.

RabbitMQ 4 ignores a republished ``x-death``, so the attempt count, the failure history and
a re-check's settle progress live in ``x-sipline-*`` headers. The worker writes them on the
copies it publishes (retries, re-checks, dead letters); ``sipline dlq`` reads them. No
header ever carries a message body value: only codes, reasons, times and field names.

Every one of them is a *claim*: whoever publishes a command can set any header, so each is
checked and clamped on the way in (:func:`read`), and a value that fails its check is
treated as absent. The worker can always encode what it writes back:

=============================  ==============================  ================================
header                         accepted                        otherwise
=============================  ==============================  ================================
``x-sipline-attempt``          a whole number; above the       1 (missing, negative,
                               retry budget it is the last     fractional, text, a list, …)
                               attempt (``max_attempts``)
``x-sipline-settle-started``   finite epoch seconds ≥ 0        no settle state: a fresh window
``x-sipline-settle-attempt``   a whole number, at most 10,000  0
``x-sipline-failures``         a JSON list ≤ 64 KiB, each      no history
                               entry trimmed, the last 20 kept
``x-sipline-first-failure``,   printable text, ≤ 64 and        dropped; written afresh at the
``x-sipline-original-*``       ≤ 255 bytes                     next failure
``x-sipline-replay-count``     a whole number, at most 1,000   dropped
any other ``x-sipline-*``      never read: rewritten at each failure (reason, error code and
                               message, field errors, worker version, delay tier) or dropped
=============================  ==============================  ================================

A producer that sets ``x-sipline-attempt`` can therefore spend its command's retry budget,
never extend it: a claim above the budget gets one try, then ``retries_exhausted``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from worker.adapters.amqp.topology import DELAY_HEADER
from worker.domain.settle import SettleState
from worker.errors import BadInput, SiplineError
from worker.runtime.values import number, printable, whole

PREFIX: Final = "x-sipline-"
ATTEMPT: Final = "x-sipline-attempt"
REASON: Final = "x-sipline-reason"
ERROR_CODE: Final = "x-sipline-error-code"
ERROR_MESSAGE: Final = "x-sipline-error-message"
FIELD_ERRORS: Final = "x-sipline-field-errors"
FIRST_FAILURE: Final = "x-sipline-first-failure"
LAST_FAILURE: Final = "x-sipline-last-failure"
FAILURES: Final = "x-sipline-failures"
WORKER_VERSION: Final = "x-sipline-worker-version"
ORIGINAL_EXCHANGE: Final = "x-sipline-original-exchange"
ORIGINAL_ROUTING_KEY: Final = "x-sipline-original-routing-key"
REPLAY_COUNT: Final = "x-sipline-replay-count"
SETTLE_STARTED: Final = "x-sipline-settle-started"
SETTLE_ATTEMPT: Final = "x-sipline-settle-attempt"
DELAY: Final = DELAY_HEADER

HISTORY_LIMIT: Final = 20
ATTEMPT_LIMIT: Final = 1_000  # no retry budget is larger; a bound for the checks below
SETTLE_ATTEMPT_LIMIT: Final = 10_000
REPLAY_LIMIT: Final = 1_000
HISTORY_BYTES: Final = 64 * 1024
MESSAGE_CHARS: Final = 1_000
CODE_CHARS: Final = 128
_TIME_CHARS: Final = 64

# Headers that describe a failure (a dead letter's story).
FAILURE_HEADERS: Final = frozenset(
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
BROKER_HEADERS: Final = frozenset(
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
# Never the publisher's own: the broker's, and the delay tier's routing header.
_NOT_OWN: Final = BROKER_HEADERS | {DELAY}


@dataclass(frozen=True, slots=True)
class Received:
    """A delivery's headers, split and checked: the publisher's own, and the worker's claims.

    ``attempt`` and ``settle`` are checked at once (every delivery needs them); the failure
    history and origin only when a failure is recorded.
    """

    own: Mapping[str, Any] = field(default_factory=dict)
    ours: Mapping[str, Any] = field(default_factory=dict)
    attempt: int = 1
    settle: SettleState | None = None

    def history(self) -> list[dict[str, Any]]:
        return _history(self.ours.get(FAILURES))

    def text(self, name: str, limit: int = 255) -> str | None:
        return printable(self.ours.get(name), limit)

    def kept(self) -> dict[str, Any]:
        """The worker's state that travels on every copy: settle progress, replay count."""
        out: dict[str, Any] = settle_headers(self.settle) if self.settle else {}
        replays = whole(self.ours.get(REPLAY_COUNT), REPLAY_LIMIT)
        if replays is not None:
            out[REPLAY_COUNT] = replays
        return out


_FRESH = Received()


def read(raw: Mapping[str, Any] | None, *, max_attempts: int = ATTEMPT_LIMIT) -> Received:
    """Split and check a delivery's headers (see the table in the module docstring)."""
    if not raw:
        return _FRESH
    own: dict[str, Any] = {}
    ours: dict[str, Any] = {}
    for name, value in raw.items():
        if name.startswith(PREFIX):
            ours[name] = value
        elif name not in _NOT_OWN:
            own[name] = value
    if not ours:
        return Received(own=own)
    attempt = whole(ours.get(ATTEMPT), max(max_attempts, 1)) or 1
    return Received(own=own, ours=ours, attempt=attempt, settle=_settle(ours))


def settle_headers(state: SettleState) -> dict[str, Any]:
    """The headers that carry a re-check's settle progress.

    The start time travels as text: an AMQP client may encode a float header as a 32-bit
    float, which rounds an epoch time by a minute or more.
    """
    return {SETTLE_STARTED: repr(state.started_at), SETTLE_ATTEMPT: state.attempt}


def follow_up_headers(state: SettleState | None, *, tier: str) -> dict[str, Any]:
    """A deferred re-check's headers: its settle progress and the delay tier."""
    out = settle_headers(state) if state else {}
    out[DELAY] = tier
    return out


@dataclass(frozen=True, slots=True)
class Origin:
    """Where this worker consumes from and which version it is (for dead-letter headers)."""

    exchange: str
    version: str


def failure_headers(
    received: Received,
    error: SiplineError,
    *,
    attempt: int,
    reason: str,
    routing_key: str,
    origin: Origin,
    keep_own: bool = True,
    now: datetime | None = None,
) -> dict[str, Any]:
    """A failed command's headers: attempt, reason, history, origin; the publisher's own
    headers too unless ``keep_own`` is false (they could not be encoded)."""
    at = (now or datetime.now(UTC)).isoformat()
    code = error.code[:CODE_CHARS]
    message = error.message[:MESSAGE_CHARS]
    history = received.history()
    history.append({"at": at, "attempt": attempt, "code": code, "message": message})
    out: dict[str, Any] = dict(received.own) if keep_own else {}
    out.update(received.kept())
    out.update(
        {
            ATTEMPT: attempt,
            REASON: reason,
            ERROR_CODE: code,
            ERROR_MESSAGE: message,
            FIRST_FAILURE: received.text(FIRST_FAILURE, _TIME_CHARS) or at,
            LAST_FAILURE: at,
            FAILURES: json.dumps(history[-HISTORY_LIMIT:]),
            WORKER_VERSION: origin.version,
            ORIGINAL_EXCHANGE: received.text(ORIGINAL_EXCHANGE) or origin.exchange,
            ORIGINAL_ROUTING_KEY: received.text(ORIGINAL_ROUTING_KEY) or routing_key,
        }
    )
    if isinstance(error, BadInput):
        out[FIELD_ERRORS] = json.dumps(
            [{"field": p.field, "problem": p.problem} for p in error.problems[:50]]
        )
    return out


def retry_headers(
    received: Received,
    error: SiplineError,
    *,
    attempt: int,
    tier: str,
    routing_key: str,
    origin: Origin,
) -> dict[str, Any]:
    """A retry copy's headers: the failure recorded, the next attempt, the delay tier."""
    out = failure_headers(
        received, error, attempt=attempt, reason="retrying", routing_key=routing_key, origin=origin
    )
    out[ATTEMPT] = attempt + 1
    out[DELAY] = tier
    return out


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
    """:func:`failure_headers` from raw headers (a dead letter as the worker writes it)."""
    return failure_headers(
        read(headers),
        error,
        attempt=attempt,
        reason=reason,
        routing_key=routing_key,
        origin=Origin(exchange, version),
        now=now,
    )


def for_replay(headers: Mapping[str, Any], *, replay_count: int) -> dict[str, Any]:
    """A dead letter's replayed copy: the publisher's own headers and the replay count.

    Everything else the worker wrote is dropped, so the copy starts a new life: attempt 1
    with a whole retry budget (an operator fixed the cause), a fresh settle window (a
    re-check replayed an hour later must not time out at once), an empty failure history.
    The replay count stays: it caps how often one command can come back.
    """
    out = {k: v for k, v in headers.items() if not k.startswith(PREFIX) and k not in _NOT_OWN}
    out[REPLAY_COUNT] = replay_count
    return out


# --- checks ---------------------------------------------------------------------------------


def _settle(ours: Mapping[str, Any]) -> SettleState | None:
    started = number(ours.get(SETTLE_STARTED))
    if started is None or started < 0:
        return None
    attempt = whole(ours.get(SETTLE_ATTEMPT), SETTLE_ATTEMPT_LIMIT) or 0
    return SettleState(started_at=float(started), attempt=attempt)


def _history(raw: object) -> list[dict[str, Any]]:
    """The failure history, each entry trimmed to known keys and bounded values."""
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    if not isinstance(raw, str) or len(raw) > HISTORY_BYTES:
        return []
    try:
        decoded = json.loads(raw)
    except (ValueError, RecursionError):
        return []
    if not isinstance(decoded, list):
        return []
    entries = []
    for item in decoded[-HISTORY_LIMIT:]:
        if isinstance(item, dict):
            entries.append(
                {
                    "at": printable(item.get("at"), _TIME_CHARS),
                    "attempt": whole(item.get("attempt"), ATTEMPT_LIMIT),
                    "code": printable(item.get("code"), CODE_CHARS),
                    "message": _clip(item.get("message")),
                }
            )
    return entries


def _clip(value: object) -> str | None:
    return value[:MESSAGE_CHARS] if isinstance(value, str) else None
