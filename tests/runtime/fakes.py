"""Fake handlers that let the runtime tests choose each command's fate."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from contracts import Bitrix24Side, LineReconciledData, Verdict, VoximplantSide
from worker.errors import PermanentError, TransientError
from worker.runtime.handler import CommandContext, EventDraft, Outcome


@dataclass
class ScriptedHandler:
    """``line.reconcile`` handler: config_id selects the behaviour.

    - ``transient_first[config_id] = n``: fail transiently n times, then succeed;
    - ``always_transient``: config ids that never succeed;
    - ``permanent``: config ids refused for good;
    - ``delay``: seconds each call takes.
    """

    transient_first: dict[int, int] = field(default_factory=dict)
    always_transient: set[int] = field(default_factory=set)
    permanent: set[int] = field(default_factory=set)
    delay: float = 0.0
    calls: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    order: list[tuple[int, str]] = field(default_factory=list)
    attempts_seen: list[int] = field(default_factory=list)
    running: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    max_concurrent_per_line: int = 0
    max_concurrent: int = 0

    async def __call__(self, command: Any, context: CommandContext) -> Outcome:
        config_id = command.data.config_id
        self.calls[config_id] += 1
        self.attempts_seen.append(context.attempt)
        self.order.append((config_id, command.id))
        self.running[config_id] += 1
        self.max_concurrent_per_line = max(self.max_concurrent_per_line, self.running[config_id])
        self.max_concurrent = max(self.max_concurrent, sum(self.running.values()))
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
        finally:
            self.running[config_id] -= 1
        if config_id in self.permanent:
            raise PermanentError("the portal refused", code="ACCESS_DENIED")
        if config_id in self.always_transient:
            raise TransientError("portal unavailable", code="INTERNAL_SERVER_ERROR")
        if self.calls[config_id] <= self.transient_first.get(config_id, 0):
            raise TransientError("portal unavailable", code="INTERNAL_SERVER_ERROR")
        data = LineReconciledData(
            config_id=config_id,
            verdict=Verdict.IN_SYNC,
            bitrix24=Bitrix24Side(status_result="success"),
            voximplant=VoximplantSide(found=True, successful=True),
            attempts=context.attempt,
        )
        return Outcome(events=[EventDraft(data, subject=f"lines/{config_id}")])
