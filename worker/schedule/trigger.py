"""``portal.sweep`` by trigger: a scheduled sweep reports only what diverges.

A sweep the schedule published carries ``source`` = :data:`SCHEDULE_SOURCE` (the contract
is unchanged: ``source`` is the envelope's own "who produced this"). It runs through the
sweep handler built with ``report_only_divergent``, so the event log does not fill with
``in_sync`` every interval; ``portal.swept`` still counts every verdict. A sweep sent by
anyone else runs as configured (``SIPLINE_SWEEP_REPORT_ONLY_DIVERGENT``).
"""

from __future__ import annotations

from typing import Any, Literal, Protocol

from worker.runtime.handler import CommandContext, CommandHandler, Outcome
from worker.schedule.tick import SCHEDULE_SOURCE

Trigger = Literal["schedule", "command"]


class SweepRunObserver(Protocol):
    def sweep_run(self, trigger: Trigger) -> None: ...


class SweepByTrigger:
    """Dispatches ``portal.sweep`` on who sent it; counts every sweep that ran to the end."""

    def __init__(
        self,
        *,
        scheduled: CommandHandler,
        commanded: CommandHandler,
        observer: SweepRunObserver | None = None,
    ) -> None:
        self._scheduled, self._commanded, self._observer = scheduled, commanded, observer

    async def __call__(self, command: Any, context: CommandContext) -> Outcome:
        trigger: Trigger = "schedule" if command.source == SCHEDULE_SOURCE else "command"
        handler = self._scheduled if trigger == "schedule" else self._commanded
        outcome = await handler(command, context)
        if self._observer is not None:
            self._observer.sweep_run(trigger)
        return outcome
