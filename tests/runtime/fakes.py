"""Fake handlers that let the runtime tests choose each command's fate."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from contracts import Bitrix24Side, LineReconciledData, Verdict, VoximplantSide
from worker.domain.model import Bitrix24Status, Line, VoximplantRegistration
from worker.domain.settle import SettlePlan
from worker.errors import (
    AuthorizationError,
    PermanentError,
    ReauthorizationRequired,
    TransientError,
)
from worker.handlers.checking import LineChecker
from worker.handlers.lines import ReconcileLine
from worker.runtime.handler import CommandContext, EventDraft, Outcome


@dataclass
class ScriptedHandler:
    """``line.reconcile`` handler: config_id selects the behaviour.

    - ``transient_first[config_id] = n``: fail transiently n times, then succeed;
    - ``always_transient``: config ids that never succeed;
    - ``permanent``: config ids refused for good;
    - ``needs_operator``: config ids refused for the worker's credentials (ACCESS_DENIED);
    - ``reauthorize``: config ids of a portal whose OAuth pair is gone;
    - ``delay``: seconds each call takes.
    """

    transient_first: dict[int, int] = field(default_factory=dict)
    always_transient: set[int] = field(default_factory=set)
    permanent: set[int] = field(default_factory=set)
    needs_operator: set[int] = field(default_factory=set)
    reauthorize: set[int] = field(default_factory=set)
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
            raise PermanentError("line 4 does not exist", code="ERROR_NOT_FOUND")
        if config_id in self.needs_operator:
            raise AuthorizationError("the portal refused the webhook", code="ACCESS_DENIED")
        if config_id in self.reauthorize:
            raise ReauthorizationRequired("the pair was lost in flight", reason="refresh_lost")
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


LINE_SERVER = "sip.example.com"
LINE_LOGIN = "100"


@dataclass
class SettlingLines:
    """A portal (``Portals`` and ``PortalLines`` in one) whose lines report Bitrix24's
    ``wait`` for the first ``pending_checks`` status reads, then ``success``."""

    pending_checks: int = 1
    status_calls: int = 0

    def get(self, portal: str) -> SettlingLines:
        return self

    async def find_line(self, config_id: int) -> Line:
        return Line(config_id=config_id, server=LINE_SERVER, login=LINE_LOGIN, reg_id=config_id)

    async def status(self, reg_id: int) -> Bitrix24Status:
        self.status_calls += 1
        pending = self.status_calls <= self.pending_checks
        return Bitrix24Status(status_result="wait" if pending else "success")


@dataclass
class Registrations:
    """Voximplant's side: every line registered, unless ``down`` (an outage)."""

    down: bool = False
    calls: int = 0

    async def registration(self, reg_id: int) -> VoximplantRegistration:
        self.calls += 1
        if self.down:
            raise TransientError("Voximplant unavailable", code="UPSTREAM_UNAVAILABLE")
        return VoximplantRegistration(
            sip_registration_id=reg_id, successful=True, proxy=LINE_SERVER, sip_username=LINE_LOGIN
        )


def reconcile_handler(
    lines: SettlingLines, registrations: Registrations, *, deadline: float = 30.0
) -> ReconcileLine:
    """The real ``line.reconcile`` handler over the fakes above, re-checking every 0.2 s."""
    plan = SettlePlan(intervals=(0.2,), deadline=deadline)
    checker = LineChecker(registrations=registrations, plan=plan)
    return ReconcileLine(portals=lines, checker=checker)
