"""Process one delivery: parse, dispatch, decide how it ends, then end it in one way.

The single rule: a delivery is acked only after its outcome (events, a retry copy, or a dead
letter) has been confirmed by the broker (``worker.runtime.finish``). If confirming fails,
the delivery is returned to the queue (or, if the channel is gone, the broker returns it),
never dropped. A copy the broker could never accept (its headers cannot be encoded) is not
returned but rejected, with the reason, so it cannot loop.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass

from aio_pika import Message
from aio_pika.abc import AbstractIncomingMessage
from pamqp.encode import field_table

from contracts import Command
from worker.adapters.amqp.publisher import Publisher, copy_message, envelope_message
from worker.adapters.amqp.topology import TopologySpec, tier_name
from worker.errors import BadInput, FieldProblem, SiplineError
from worker.runtime import events, headers
from worker.runtime.delivery import Delivery
from worker.runtime.finish import (
    CONFIRM_TIMEOUT,
    Delayed,
    DeliveryOutcome,
    Ending,
    Finisher,
    MessageObserver,
    NoObserver,
    Outgoing,
    Unencodable,
    outgoing,
)
from worker.runtime.handler import CommandContext, CommandHandler, Outcome, ordering_key
from worker.runtime.ordering import KeyedLocks
from worker.runtime.parse import parse_command
from worker.runtime.policy import Action, Decision, RetryPolicy

__all__ = ["MessageObserver", "Processor", "ProcessorConfig"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ProcessorConfig:
    max_body_bytes: int
    version: str
    commands_exchange: str
    confirm_timeout: float = CONFIRM_TIMEOUT  # seconds an outcome may wait for its confirms


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
        self._handlers = dict(handlers)
        self._policy = policy
        self._topology = topology
        self._config = config
        self._origin = headers.Origin(config.commands_exchange, config.version)
        self._observer = observer or NoObserver()
        self._finisher = Finisher(
            publisher=publisher, observer=self._observer, confirm_timeout=config.confirm_timeout
        )
        self._locks = KeyedLocks()

    async def __call__(self, message: AbstractIncomingMessage) -> None:
        # Flat on purpose: each resumption of a publish or confirm wait passes back through
        # every coroutine frame of the delivery, so its steps are not nested coroutines.
        started = time.perf_counter()
        delivery = Delivery(
            message,
            headers.read(message.headers, max_attempts=self._policy.max_attempts),
            facts_limit=self._config.max_body_bytes,
        )
        try:
            rejection = self._parse(delivery)
            if rejection is not None:
                outcome = await self._finisher.finish(delivery, rejection, self._unencodable)
            else:
                command = delivery.command
                assert command is not None
                # the per-line lock, inline: an uncontended line (the usual case) costs one
                # dict entry, no context manager and no await
                key = ordering_key(command)
                if not self._locks.take(key):
                    await self._locks.wait(key)
                try:
                    try:
                        result = await self._dispatch(command, delivery)
                    except Exception as exc:
                        decision = self._policy.decide(exc, delivery.attempt)
                        ending = self._failure(delivery, command, decision)
                    else:
                        ending = self._success(command, result)
                        del result  # not held while the outcome is confirmed (see Outgoing)
                    outcome = await self._finisher.finish(delivery, ending, self._unencodable)
                finally:
                    self._locks.release(key)
        except Exception:
            # Publishing the outcome failed: the delivery must come back, not vanish.
            outcome = DeliveryOutcome.REQUEUED
            log.warning(
                "outcome not confirmed; returning the command to the queue",
                extra=delivery.log_fields(outcome),
                exc_info=True,
            )
            with contextlib.suppress(Exception):
                await message.nack(requeue=True)
        self._observer.outcome(message.routing_key or "?", outcome, time.perf_counter() - started)

    def _parse(self, delivery: Delivery) -> Ending | None:
        """Set the delivery's command, or return its rejection."""
        message = delivery.message
        try:
            delivery.command = parse_command(
                message.body, message.content_type, max_bytes=self._config.max_body_bytes
            )
        except BadInput as error:
            return self._rejection(delivery, error)
        return None

    def _dispatch(self, command: Command, delivery: Delivery) -> Awaitable[Outcome]:
        """The handler's call for ``command``, to be awaited by the delivery's own coroutine
        (not wrapped in another: every resumption of the handler's I/O passes through each
        frame of the chain)."""
        handler = self._handlers.get(command.MESSAGE_TYPE)
        if handler is None:
            raise BadInput(
                f"this worker has no handler for {command.MESSAGE_TYPE}", reason="unknown_type"
            )
        received = delivery.received
        context = CommandContext(attempt=received.attempt, settle=received.settle)
        return handler(command, context)

    def _unencodable(self, delivery: Delivery, exc: Unencodable) -> Ending:
        """The ending instead of one whose copy could not be encoded: a rejection, never the
        queue again (it would fail the same way on every delivery)."""
        return self._rejection(delivery, _unencodable(delivery, exc), keep_own=False)

    # --- endings --------------------------------------------------------------------------

    def _success(self, command: Command, result: Outcome) -> Ending:
        # Events are numbered per (type, subject), not by position: a line.reconciled is the
        # first of its kind for its line whether it came on the first pass or on a re-check,
        # so a redelivery reproduces it under the same id.
        drafts = result.events
        published: list[Outgoing]
        if len(drafts) == 1:  # the usual case: nothing to number
            draft = drafts[0]
            published = [
                outgoing(events.for_command(command, draft.data, subject=draft.subject, index=0))
            ]
        else:
            published = []
            seen: dict[tuple[type, str | None], int] = {}
            for draft in drafts:
                key = (type(draft.data), draft.subject)
                index = seen.get(key, 0)
                event = events.for_command(command, draft.data, subject=draft.subject, index=index)
                published.append(outgoing(event))
                seen[key] = index + 1
        if not result.follow_ups:  # the usual case
            return Ending(DeliveryOutcome.OK, "command done", events=published)
        delayed = [
            Delayed(
                envelope_message(
                    follow.command,
                    headers=headers.follow_up_headers(follow.settle, tier=self._tier(follow.delay)),
                ),
                follow.command.MESSAGE_TYPE,
            )
            for follow in result.follow_ups
        ]
        return Ending(DeliveryOutcome.OK, "command done", events=published, delayed=delayed)

    def _failure(self, delivery: Delivery, command: Command, decision: Decision) -> Ending:
        error, attempt = decision.error, delivery.attempt
        action = decision.action
        if action is Action.REJECT:
            assert isinstance(error, BadInput)
            return self._rejection(delivery, error)
        if action is Action.RETRY:
            retry = headers.retry_headers(
                delivery.received,
                error,
                attempt=attempt,
                tier=self._tier(decision.delay),
                routing_key=delivery.routing_key,
                origin=self._origin,
            )
            copy = copy_message(delivery.message, headers=retry)
            return Ending(
                DeliveryOutcome.RETRIED,
                "command will be retried",
                logging.WARNING,
                delayed=[Delayed(copy, command.MESSAGE_TYPE)],
                error=error,
            )
        failed = events.failed(
            command, error, attempts=attempt, retryable=action is Action.EXHAUSTED
        )
        reason = decision.dead_letter_reason
        if reason is None:
            return Ending(
                DeliveryOutcome.FAILED,
                "command failed permanently",
                logging.ERROR,
                events=[outgoing(failed)],
                error=error,
            )
        return Ending(
            DeliveryOutcome.DEAD_LETTERED,
            f"command dead-lettered: {reason.replace('_', ' ')}",
            logging.ERROR,
            events=[outgoing(failed)],
            dead_letter=self._dead_letter(delivery, error, reason),
            reason=reason,
            error=error,
        )

    def _rejection(self, delivery: Delivery, error: BadInput, *, keep_own: bool = True) -> Ending:
        facts = delivery.facts()
        rejected = events.rejected(
            error,
            message_id=facts.command_id,
            correlation=facts.correlation,
            portal=facts.portal,
            command_type=facts.command_type,
        )
        return Ending(
            DeliveryOutcome.REJECTED,
            "command rejected",
            logging.WARNING,
            events=[outgoing(rejected)],
            dead_letter=self._dead_letter(delivery, error, error.reason, keep_own=keep_own),
            reason=error.reason,
            error=error,
        )

    def _dead_letter(
        self, delivery: Delivery, error: SiplineError, reason: str, *, keep_own: bool = True
    ) -> Message:
        dead = headers.failure_headers(
            delivery.received,
            error,
            attempt=delivery.attempt,
            reason=reason,
            routing_key=delivery.routing_key,
            origin=self._origin,
            keep_own=keep_own,
        )
        return copy_message(delivery.message, headers=dead)

    def _tier(self, delay: float) -> str:
        return tier_name(self._topology.tier_for(delay))


def _unencodable(delivery: Delivery, exc: Unencodable) -> BadInput:
    """The rejection of a delivery whose copy could not be encoded: it names the publisher's
    headers that AMQP cannot carry again (never their values)."""
    problems = []
    for name, value in delivery.received.own.items():
        try:
            field_table({name: value})
        except Exception as cause:  # whatever pamqp raises, this header cannot travel again
            label = name if name.isprintable() else ascii(name)
            problems.append(
                FieldProblem(
                    f"headers.{label}"[:200], f"cannot be encoded ({type(cause).__name__})"
                )
            )
    return BadInput(
        f"the message's headers cannot be encoded again ({type(exc.cause).__name__})",
        reason="invalid_input",
        code="UNENCODABLE_HEADERS",
        problems=problems[:50] or [FieldProblem("headers", "cannot be encoded")],
    )
