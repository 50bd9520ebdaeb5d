"""The protocol every command handler implements, and what it returns.

A handler does the work of one command type and returns an :class:`Outcome`: the events to
publish and, optionally, commands to deliver again later (a deferred re-check). It never acks,
never sleeps while holding a delivery, and signals failure by raising a classified error from
``worker.errors``; the failure policy decides the rest.

These classes are built for every command, so they are plain (not frozen) slotted
dataclasses: a frozen one costs several times as much to build (docs/performance.md). Treat
them as values all the same.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from contracts import Command, EventData
from worker.domain.settle import SettleState


@dataclass(slots=True)
class EventDraft:
    """An event's data and subject; the runtime adds the envelope."""

    data: EventData
    subject: str | None = None


@dataclass(slots=True)
class FollowUp:
    """A command to deliver again after ``delay`` seconds; ``settle`` is the progress of the
    settle loop it continues (the runtime carries it in headers the handler never sees)."""

    command: Command
    delay: float
    settle: SettleState | None = None


@dataclass(slots=True)
class Outcome:
    events: list[EventDraft] = field(default_factory=list)
    follow_ups: list[FollowUp] = field(default_factory=list)


@dataclass(slots=True)
class CommandContext:
    """What the runtime knows about a delivery besides the command itself.

    ``attempt`` counts from 1 within the retry budget; ``settle`` is the settle progress a
    deferred re-check carries (None for a first check or a replayed one), already checked.
    """

    attempt: int
    settle: SettleState | None = None


class CommandHandler(Protocol):
    """Handles one command type."""

    async def __call__(self, command: Any, context: CommandContext) -> Outcome: ...


def ordering_key(command: Command) -> str:
    """Commands with the same key are applied one at a time, in arrival order."""
    data = command.data
    config_id = getattr(data, "config_id", None)
    if config_id is not None:
        return f"{command.portal}/line/{config_id}"
    title = getattr(data, "title", None)
    if title is not None:
        return f"{command.portal}/title/{title.casefold()}"
    return f"{command.portal}/portal"
