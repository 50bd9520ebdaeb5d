"""The one way a delivery ends: publish what it produced (confirmed) → ack → log → observe.

The processor decides an :class:`Ending` (what to publish, which :class:`DeliveryOutcome`,
what to log); :class:`Finisher` carries it out in that order and nothing else acks. The
publishes together have one deadline (``confirm_timeout``, on a timer shared by every
delivery: ``worker.runtime.deadline``); past it they raise :class:`TimeoutError` and the
processor returns the delivery to the queue. A copy
that cannot be *encoded* (a header the broker delivered but AMQP cannot carry again) raises
:class:`Unencodable` before anything of it reaches the broker, so the processor can turn it
into a rejection instead of returning the command to the queue again and again.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from aio_pika import Message

from contracts import Event
from worker.adapters.amqp.publisher import Publisher, envelope_message
from worker.errors import SiplineError
from worker.runtime.deadline import SharedDeadline
from worker.runtime.delivery import Delivery

log = logging.getLogger("worker.runtime.processor")

CONFIRM_TIMEOUT = 30.0  # seconds an outcome's publishes may wait for the broker's confirms

# What encoding a message can raise (pamqp: TypeError for an integer AMQP cannot carry,
# RecursionError for a deeply nested table, struct.error, UnicodeEncodeError …); a broker
# or connection failure raises aio-pika's and asyncio's own exceptions, never these.
ENCODING_ERRORS = (TypeError, ValueError, OverflowError, RecursionError, struct.error)


class DeliveryOutcome(StrEnum):
    """What happened to a delivery (the ``outcome`` of its log line and metric)."""

    OK = "ok"
    REJECTED = "rejected"
    RETRIED = "retried"
    DEAD_LETTERED = "dead_lettered"
    FAILED = "failed"
    REQUEUED = "requeued"


class MessageObserver(Protocol):
    """Told what happens to deliveries (metrics plug in here)."""

    def outcome(self, command_type: str, outcome: str, seconds: float) -> None:
        """A delivery finished with one of :class:`DeliveryOutcome`."""

    def published(self, event_type: str, verdict: str | None) -> None:
        """An event was confirmed by the broker."""

    def dead_lettered(self, reason: str) -> None:
        """A command was dead-lettered and the dead letter confirmed."""


class NoObserver:
    def outcome(self, command_type: str, outcome: str, seconds: float) -> None:
        return None

    def published(self, event_type: str, verdict: str | None) -> None:
        return None

    def dead_lettered(self, reason: str) -> None:
        return None


@dataclass(slots=True)
class Delayed:
    """A message for a delay tier (a retry or a re-check) and its routing key."""

    message: Message
    routing_key: str


@dataclass(slots=True)
class Outgoing:
    """An event ready to publish: its message and routing key, and what the metric and the
    log line say of it. The event's models are not kept: a delivery holds its ending until it
    is acked, and every object it holds meanwhile is work for the garbage collector."""

    message: Message
    routing_key: str
    event_type: str
    verdict: str | None
    line: int | None


def outgoing(event: Event) -> Outgoing:
    data = event.data
    verdict = getattr(data, "verdict", None)
    # an event's type is its model's (a Literal field): the routing key without looking it up
    kind = event.MESSAGE_TYPE
    return Outgoing(
        envelope_message(event),
        kind,
        kind,
        None if verdict is None else str(verdict),
        getattr(data, "config_id", None),
    )


def _summary(events: Sequence[Outgoing]) -> tuple[int | None, str | None]:
    """The log line's ``line`` (the first event's that names one) and ``verdict`` (the
    last event's that has one)."""
    line = verdict = None
    for event in events:
        if line is None:
            line = event.line
        if event.verdict is not None:
            verdict = event.verdict
    return line, verdict


@dataclass(slots=True)  # not frozen: built for every delivery, and frozen costs more to build
class Ending:
    """How a delivery ends: published in the order dead letter, events, delayed; then acked."""

    outcome: DeliveryOutcome
    text: str
    level: int = logging.INFO
    events: Sequence[Outgoing] = ()
    delayed: Sequence[Delayed] = ()
    dead_letter: Message | None = None
    reason: str | None = None
    error: SiplineError | None = None


class Unencodable(Exception):
    """A copy of the delivery (retry or dead letter) could not be encoded; nothing was sent."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(f"the copy could not be encoded ({type(cause).__name__})")
        self.cause = cause


Fallback = Callable[[Delivery, Unencodable], Ending]


class Finisher:
    def __init__(
        self,
        *,
        publisher: Publisher,
        observer: MessageObserver,
        confirm_timeout: float,
    ) -> None:
        self._publisher = publisher
        self._observer = observer
        self._deadline = SharedDeadline(confirm_timeout)

    async def finish(
        self, delivery: Delivery, ending: Ending, fallback: Fallback | None = None
    ) -> DeliveryOutcome:
        """Publish, ack, log; an unencodable copy ends the delivery as ``fallback`` says."""
        task = asyncio.current_task()
        assert task is not None
        deadline = self._deadline
        instead: Ending | None = None
        deadline.watch(task)
        try:
            if ending.dead_letter is not None:
                await self._dead_letter(delivery, ending.dead_letter, ending.reason)
            for event in ending.events:
                await self._publisher.event(event.message, routing_key=event.routing_key)
                self._observer.published(event.event_type, event.verdict)
            for delayed in ending.delayed:
                await self._delayed(delayed)
        except Unencodable as exc:
            if fallback is None:
                raise
            instead = fallback(delivery, exc)
        except asyncio.CancelledError:
            if deadline.expired(task):
                raise TimeoutError(
                    f"the outcome was not confirmed within {deadline.seconds:g} s"
                ) from None
            raise
        finally:
            deadline.release(task)
        if instead is not None:
            return await self.finish(delivery, instead)
        await delivery.message.ack()
        if log.isEnabledFor(ending.level):  # the fields cost more than the check
            line, verdict = _summary(ending.events)
            fields = delivery.log_fields(
                ending.outcome, error=ending.error, line=line, verdict=verdict, reason=ending.reason
            )
            log.log(ending.level, ending.text, extra=fields)
        return ending.outcome

    async def _dead_letter(self, delivery: Delivery, message: Message, reason: str | None) -> None:
        try:
            await self._publisher.dead_letter(
                message, routing_key=delivery.routing_key or "unknown"
            )
        except ENCODING_ERRORS as exc:
            raise Unencodable(exc) from exc
        self._observer.dead_lettered(reason or "unknown")

    async def _delayed(self, delayed: Delayed) -> None:
        try:
            await self._publisher.delayed(delayed.message, routing_key=delayed.routing_key)
        except ENCODING_ERRORS as exc:
            raise Unencodable(exc) from exc
