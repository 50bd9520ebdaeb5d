"""Put dead letters back on the command exchange, one at a time, confirmed at each step.

For each selected dead letter, in order:

1. publish the copy (original body and properties; headers as
   :func:`worker.runtime.headers.for_replay` keeps them: the publisher's own and
   ``x-sipline-replay-count`` + 1) to the command exchange with the original routing key,
   ``mandatory``, and wait for the broker's confirm;
2. ack the dead letter (it leaves the DLQ);
3. publish ``command.replayed`` to the events exchange and wait for its confirm.

What an interruption (crash, Ctrl-C, dropped connection) can leave behind:

* every dead letter is in the DLQ, or its copy is on the command queue: none is lost;
* at most one message, the one in step 2 or 3 when the run stopped, can be in both;
  its copy has the same message id, and the worker applies a command idempotently;
* a message whose ``command.replayed`` event was confirmed has left the DLQ: the ack was
  sent on the same channel before the event, and a channel's frames are processed in order;
* a replay whose event was not confirmed has no event; the event id is derived from the
  command id and the replay count, so a later replay of the same copy repeats the same id.

A message whose replay count has reached the cap is refused and stays in the DLQ.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Protocol

from aio_pika import Message

from contracts import CommandReplayedData
from worker.adapters.amqp.publisher import envelope_message, event_type
from worker.ops.dlq.model import DeadLetter
from worker.ops.dlq.sinks import Sink, message_from
from worker.ops.dlq.store import DeadLetterSession, Held
from worker.runtime import headers as h
from worker.runtime.events import make_event

log = logging.getLogger(__name__)

DEFAULT_MAX_REPLAYS = 3


class Limiter(Protocol):
    """Paces the replays (``aiolimiter.AsyncLimiter`` fits)."""

    async def __aenter__(self) -> None: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


@dataclass(slots=True)
class ReplayReport:
    """What a run did; ``error`` is set when it stopped early."""

    dry_run: bool
    replayed: list[DeadLetter] = field(default_factory=list)
    refused: list[DeadLetter] = field(default_factory=list)
    error: str | None = None


def replay_headers(letter: DeadLetter) -> dict[str, Any]:
    """The copy's headers: the publisher's own, with a replay count one higher."""
    return h.for_replay(letter.raw.headers, replay_count=letter.replay_count + 1)


def replay_copy(letter: DeadLetter) -> Message:
    return message_from(letter.raw, headers=replay_headers(letter))


def replayed_event_message(letter: DeadLetter) -> tuple[Message, str]:
    """The ``command.replayed`` audit event for a replay of ``letter``, and its routing key."""
    count = letter.replay_count + 1
    data = CommandReplayedData(
        command_type=letter.type,
        replay_count=count,
        dead_letter_reason=letter.reason,
        first_failure=letter.first_failure,
    )
    command_id = letter.event_id_safe
    event = make_event(
        data,
        causation=command_id,
        correlation=command_id,
        portal=letter.portal,
        subject=None,
        index=count,
    )
    return envelope_message(event), event_type(event)


class Replayer:
    """Replays held dead letters through a session (see the module for the guarantees)."""

    def __init__(
        self,
        *,
        session: DeadLetterSession,
        commands: Sink,
        events: Sink,
        max_replays: int = DEFAULT_MAX_REPLAYS,
        limiter: Limiter | None = None,
        on_progress: Callable[[], None] | None = None,
    ) -> None:
        self._session = session
        self._commands = commands
        self._events = events
        self._max_replays = max_replays
        self._limiter = limiter
        self._on_progress = on_progress

    def refuses(self, letter: DeadLetter) -> bool:
        """The cap: a message replayed ``max_replays`` times is not replayed again."""
        return letter.replay_count >= self._max_replays

    async def run(self, selected: list[Held], *, dry_run: bool = False) -> ReplayReport:
        report = ReplayReport(dry_run=dry_run)
        for held in selected:
            letter = held.letter
            if self.refuses(letter):
                report.refused.append(letter)
            elif dry_run:
                report.replayed.append(letter)
            else:
                try:
                    await self._paced(held)
                except Exception as exc:
                    report.error = f"{letter.id}: {type(exc).__name__}: {exc}"
                    log.error("replay stopped: %s", report.error, extra={"command_id": letter.id})
                    return report
                report.replayed.append(letter)
            if self._on_progress is not None:
                self._on_progress()
        return report

    async def _paced(self, held: Held) -> None:
        if self._limiter is None:
            await self.replay_one(held)
            return
        async with self._limiter:
            await self.replay_one(held)

    async def replay_one(self, held: Held) -> None:
        letter = held.letter
        await self._commands.publish(replay_copy(letter), routing_key=letter.replay_routing_key)
        await self._session.remove(held)
        event, routing_key = replayed_event_message(letter)
        await self._events.publish(event, routing_key=routing_key)
        log.info(
            "dead letter replayed",
            extra={
                "command_id": letter.id,
                "command_type": letter.type,
                "portal": letter.portal,
                "replay_count": letter.replay_count + 1,
            },
        )
