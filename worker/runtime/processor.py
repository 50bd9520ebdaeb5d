"""Process one delivery: parse, dispatch, publish the outcome with confirms, then ack.

The single rule: a delivery is acked only after its outcome (events, a retry copy, or a dead
letter) has been confirmed by the broker. If confirming fails, the delivery is returned to
the queue (or, if the channel is gone, the broker returns it), never dropped.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from aio_pika.abc import AbstractIncomingMessage

from contracts import Command, Event
from contracts.envelope import PORTAL_PATTERN
from worker.adapters.amqp.publisher import Publisher, copy_message, envelope_message
from worker.adapters.amqp.topology import TopologySpec, tier_name
from worker.errors import BadInput, SiplineError
from worker.runtime import events, headers
from worker.runtime.handler import CommandContext, CommandHandler, Outcome, ordering_key
from worker.runtime.ordering import KeyedLocks
from worker.runtime.parse import parse_command
from worker.runtime.policy import Action, Decision, RetryPolicy

log = logging.getLogger(__name__)

_PORTAL = re.compile(PORTAL_PATTERN)


class MessageObserver(Protocol):
    """Told what happens to deliveries (metrics plug in here)."""

    def outcome(self, command_type: str, outcome: str, seconds: float) -> None:
        """A delivery finished: ok, rejected, retried, dead_lettered, failed or requeued."""

    def published(self, event_type: str, verdict: str | None) -> None:
        """An event was confirmed by the broker."""

    def dead_lettered(self, reason: str) -> None:
        """A command was dead-lettered and the dead letter confirmed."""


class _NoObserver:
    def outcome(self, command_type: str, outcome: str, seconds: float) -> None:
        return None

    def published(self, event_type: str, verdict: str | None) -> None:
        return None

    def dead_lettered(self, reason: str) -> None:
        return None


@dataclass(frozen=True, slots=True)
class ProcessorConfig:
    max_body_bytes: int
    version: str
    commands_exchange: str


class Processor:
    """Owns the per-delivery flow; the failure policy is :class:`RetryPolicy`."""

    def __init__(
        self,
        *,
        publisher: Publisher,
        handlers: Mapping[str, CommandHandler],
        policy: RetryPolicy,
        topology: TopologySpec,
        config: ProcessorConfig,
        observer: MessageObserver | None = None,
    ) -> None:
        self._publisher = publisher
        self._handlers = dict(handlers)
        self._policy = policy
        self._topology = topology
        self._config = config
        self._observer = observer or _NoObserver()
        self._locks = KeyedLocks()

    async def __call__(self, message: AbstractIncomingMessage) -> None:
        started = time.perf_counter()
        command_type = message.routing_key or "?"
        try:
            outcome = await self._process(message)
        except Exception:
            # Publishing the outcome failed: the delivery must come back, not vanish.
            log.warning(
                "outcome not confirmed; returning the command to the queue",
                extra=_raw_log_fields(message, outcome="requeued"),
                exc_info=True,
            )
            with contextlib.suppress(Exception):
                await message.nack(requeue=True)
            outcome = "requeued"
        self._observer.outcome(command_type, outcome, time.perf_counter() - started)

    async def _process(self, message: AbstractIncomingMessage) -> str:
        hdrs = dict(message.headers or {})
        attempt = headers.attempt_of(hdrs)
        try:
            command = parse_command(
                message.body, message.content_type, max_bytes=self._config.max_body_bytes
            )
        except BadInput as error:
            await self._reject(message, error, hdrs, attempt)
            return "rejected"
        async with self._locks.hold(ordering_key(command)):
            try:
                result = await self._dispatch(command, message, hdrs, attempt)
            except Exception as exc:
                return await self._fail(
                    message, command, self._policy.decide(exc, attempt), hdrs, attempt
                )
            await self._publish_outcome(command, result)
        await message.ack()
        if log.isEnabledFor(logging.INFO):  # the fields cost more than the check
            log.info(
                "command done",
                extra=_log_fields(command, outcome="ok", attempt=attempt, events=result.events),
            )
        return "ok"

    async def _dispatch(
        self,
        command: Command,
        message: AbstractIncomingMessage,
        hdrs: dict[str, Any],
        attempt: int,
    ) -> Outcome:
        handler = self._handlers.get(command.MESSAGE_TYPE)
        if handler is None:
            raise BadInput(
                f"this worker has no handler for {command.MESSAGE_TYPE}", reason="unknown_type"
            )
        context = CommandContext(attempt=attempt, headers=hdrs)
        return await handler(command, context)

    async def _emit(self, event: Event) -> None:
        await self._publisher.event(event)
        verdict = getattr(event.data, "verdict", None)
        self._observer.published(event.MESSAGE_TYPE, None if verdict is None else str(verdict))

    async def _publish_outcome(self, command: Command, result: Outcome) -> None:
        # Events are numbered per (type, subject), not by position: a line.reconciled is the
        # first of its kind for its line whether it came on the first pass or on a re-check,
        # so a redelivery reproduces it under the same id.
        seen: Counter[tuple[type, str | None]] = Counter()
        for draft in result.events:
            key = (type(draft.data), draft.subject)
            await self._emit(
                events.for_command(command, draft.data, subject=draft.subject, index=seen[key])
            )
            seen[key] += 1
        for follow in result.follow_ups:
            tier = self._topology.tier_for(follow.delay)
            msg = envelope_message(
                follow.command, headers={**follow.headers, headers.DELAY: tier_name(tier)}
            )
            await self._publisher.delayed(msg, routing_key=follow.command.MESSAGE_TYPE)

    async def _fail(
        self,
        message: AbstractIncomingMessage,
        command: Command,
        decision: Decision,
        hdrs: dict[str, Any],
        attempt: int,
    ) -> str:
        error = decision.error
        if decision.action is Action.REJECT:
            assert isinstance(error, BadInput)
            await self._reject(message, error, hdrs, attempt, command=command)
            return "rejected"
        if decision.action is Action.RETRY:
            tier = self._topology.tier_for(decision.delay)
            new_headers = self._failure_headers(message, error, hdrs, attempt, "retrying")
            new_headers[headers.ATTEMPT] = attempt + 1
            new_headers[headers.DELAY] = tier_name(tier)
            await self._publisher.delayed(
                copy_message(message, headers=new_headers), routing_key=command.MESSAGE_TYPE
            )
            await message.ack()
            log.warning(
                "command will be retried",
                extra=_log_fields(command, outcome="retry", attempt=attempt, error=error),
            )
            return "retried"
        if decision.action is Action.EXHAUSTED:
            await self._dead_letter(message, error, hdrs, attempt, "retries_exhausted")
            await self._emit(events.failed(command, error, attempts=attempt, retryable=True))
            await message.ack()
            log.error(
                "command dead-lettered: retries exhausted",
                extra=_log_fields(command, outcome="dead_lettered", attempt=attempt, error=error),
            )
            return "dead_lettered"
        await self._emit(events.failed(command, error, attempts=attempt, retryable=False))
        await message.ack()
        log.error(
            "command failed permanently",
            extra=_log_fields(command, outcome="failed", attempt=attempt, error=error),
        )
        return "failed"

    async def _reject(
        self,
        message: AbstractIncomingMessage,
        error: BadInput,
        hdrs: dict[str, Any],
        attempt: int,
        *,
        command: Command | None = None,
    ) -> None:
        await self._dead_letter(message, error, hdrs, attempt, error.reason)
        if command is not None:
            facts = _RawFacts(
                command.id, command.MESSAGE_TYPE, command.correlationid, command.portal, None
            )
        else:
            facts = _raw_facts(message)
        await self._emit(
            events.rejected(
                error,
                message_id=facts.command_id,
                correlation=facts.correlation,
                portal=facts.portal,
                command_type=facts.command_type,
            )
        )
        await message.ack()
        fields = (
            _log_fields(command, outcome="rejected", attempt=attempt, error=error)
            if command
            else _raw_log_fields(message, outcome="rejected", attempt=attempt, error=error)
        )
        log.warning("command rejected", extra={**fields, "reason": error.reason})

    async def _dead_letter(
        self,
        message: AbstractIncomingMessage,
        error: SiplineError,
        hdrs: dict[str, Any],
        attempt: int,
        reason: str,
    ) -> None:
        new_headers = self._failure_headers(message, error, hdrs, attempt, reason)
        await self._publisher.dead_letter(
            copy_message(message, headers=new_headers), routing_key=message.routing_key or "unknown"
        )
        self._observer.dead_lettered(reason)

    def _failure_headers(
        self,
        message: AbstractIncomingMessage,
        error: SiplineError,
        hdrs: dict[str, Any],
        attempt: int,
        reason: str,
    ) -> dict[str, Any]:
        return headers.record_failure(
            hdrs,
            error,
            attempt=attempt,
            reason=reason,
            exchange=self._config.commands_exchange,
            routing_key=message.routing_key or "",
            version=self._config.version,
        )


def _safe_id(value: object) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    return value[:128] if value.isprintable() else None


@dataclass(frozen=True, slots=True)
class _RawFacts:
    """What can be read safely from a delivery that never became a command: printable ids,
    a domain-shaped portal, an integer config id; never a data value."""

    command_id: str | None
    command_type: str | None
    correlation: str | None
    portal: str | None
    line: int | None


def _raw_facts(message: AbstractIncomingMessage) -> _RawFacts:
    try:
        decoded = json.loads(message.body)
    except (ValueError, RecursionError):
        decoded = None
    body: dict[str, Any] = decoded if isinstance(decoded, dict) else {}
    portal = body.get("portal")
    data = body.get("data")
    line = data.get("config_id") if isinstance(data, dict) else None
    return _RawFacts(
        # the publisher's own id (the body's) first: aiormq invents a message-id when none
        # was set, and the rejection must name the command the publisher knows
        command_id=_safe_id(body.get("id")) or _safe_id(message.message_id),
        command_type=_safe_id(body.get("type")) or _safe_id(message.routing_key),
        correlation=_safe_id(body.get("correlationid")) or _safe_id(message.correlation_id),
        portal=(
            portal.lower()
            if isinstance(portal, str) and len(portal) <= 253 and _PORTAL.match(portal)
            else None
        ),
        line=line if isinstance(line, int) and not isinstance(line, bool) else None,
    )


def _raw_log_fields(
    message: AbstractIncomingMessage,
    *,
    outcome: str,
    attempt: int | None = None,
    error: SiplineError | None = None,
) -> dict[str, Any]:
    """The log fields of a delivery that never became a command (see :class:`_RawFacts`)."""
    facts = _raw_facts(message)
    fields: dict[str, Any] = {
        "command_id": facts.command_id,
        "command_type": facts.command_type,
        "portal": facts.portal,
        "line": facts.line,
        "outcome": outcome,
        "attempt": attempt if attempt is not None else headers.attempt_of(message.headers or {}),
    }
    if error is not None:
        fields["error_code"] = error.code
        fields["error"] = error.message
    return fields


def _log_fields(
    command: Command,
    *,
    outcome: str,
    attempt: int,
    events: list[Any] | None = None,
    error: SiplineError | None = None,
) -> dict[str, Any]:
    """The fields of an outcome line; ``line`` is the config id, from the command or, for a
    create, from the event that names the new line (None while unknown)."""
    fields: dict[str, Any] = {
        "command_id": command.id,
        "command_type": command.MESSAGE_TYPE,
        "portal": command.portal,
        "line": getattr(command.data, "config_id", None),
        "outcome": outcome,
        "attempt": attempt,
    }
    for draft in events or []:
        if fields["line"] is None:
            fields["line"] = getattr(draft.data, "config_id", None)
        verdict = getattr(draft.data, "verdict", None)
        if verdict is not None:
            fields["verdict"] = str(verdict)
    if error is not None:
        fields["error_code"] = error.code
        fields["error"] = error.message
    return fields
