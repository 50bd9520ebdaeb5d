"""One pass of the cross-check for one line, and what follows from it.

A settled line yields a ``line.reconciled`` event. A line still registering yields a
deferred ``line.reconcile`` (the same command id, so every event of the operation keeps
its causation) delivered again after the next settle interval; past the settle deadline the
verdict is ``pending_timeout``. Nothing here sleeps while holding a delivery.

Every settled check then goes through the portal's repair policy (:class:`RepairStep`,
``worker.handlers.repairing``), for one line (``line.*`` commands) or a sweep's lines alike.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from contracts import Command, LineReconcile, LineReconciledData, LineRefData, Verdict
from worker.domain.crosscheck import Check, cross_check, timed_out
from worker.domain.mapping import to_event_sides
from worker.domain.model import Bitrix24Status, Line, VoximplantRegistration
from worker.domain.repair import PortalPolicy
from worker.domain.settle import SettlePlan, SettleState
from worker.handlers.ports import PortalLines, Registrations
from worker.runtime.events import SOURCE
from worker.runtime.handler import EventDraft, FollowUp

Clock = Callable[[], float]


def subject(config_id: int) -> str:
    return f"lines/{config_id}"


@dataclass(frozen=True, slots=True)
class Observation:
    """Both sides of one line as read in one pass, and their cross-check."""

    check: Check
    b24: Bitrix24Status | None = None
    vox: VoximplantRegistration | None = None


@dataclass(frozen=True, slots=True)
class PassResult:
    """Either an event (the line settled or timed out) or a follow-up re-check."""

    event: EventDraft | None = None
    follow_up: FollowUp | None = None
    verdict: Verdict | None = None
    repaired: EventDraft | None = None  # a line.repaired completed by this settled check

    @property
    def events(self) -> list[EventDraft]:
        """The events in the order they are published: line.reconciled, then line.repaired."""
        return [e for e in (self.event, self.repaired) if e is not None]


FollowUpId = Callable[[Line, int], str]
"""The id of the re-check after a line's ``n``-th repair within the hour."""


class RepairStep(Protocol):
    """What follows a settled check under a portal's policy (``worker.handlers.repairing``)."""

    def policy(self, portal: str) -> PortalPolicy: ...

    async def apply(
        self,
        command: Command,
        portal: PortalLines,
        settled: Sequence[tuple[Line, PassResult]],
        *,
        follow_up_id: FollowUpId,
    ) -> list[PassResult]: ...


def recheck_of(command: Command, line: Line, command_id: str) -> LineReconcile:
    """The deferred ``line.reconcile`` of ``line`` that continues ``command``'s operation."""
    return LineReconcile(
        id=command_id,
        type="line.reconcile",
        source=SOURCE,
        portal=command.portal,
        subject=subject(line.config_id),
        correlationid=command.correlationid or command.id,
        causationid=command.id,
        data=LineRefData(config_id=line.config_id),
    )


def reconciled(
    line: Line,
    check: Check,
    b24: Bitrix24Status | None,
    vox: VoximplantRegistration | None,
    *,
    attempts: int,
    settle_seconds: float | None,
) -> EventDraft:
    assert check.verdict is not None
    b24_side, vox_side = to_event_sides(b24, vox)
    data = LineReconciledData(
        config_id=line.config_id,
        reg_id=line.reg_id,
        verdict=check.verdict,
        findings=list(check.findings),
        bitrix24=b24_side,
        voximplant=vox_side,
        attempts=attempts,
        settle_seconds=None if settle_seconds is None else round(settle_seconds, 3),
    )
    return EventDraft(data, subject=subject(line.config_id))


class LineChecker:
    """Runs cross-check passes; owns the settle schedule."""

    def __init__(
        self,
        *,
        registrations: Registrations,
        plan: SettlePlan,
        clock: Clock = time.time,
        repairs: RepairStep | None = None,
    ) -> None:
        """``repairs`` applies each portal's repair policy to settled checks; without it
        every portal is observed only."""
        self._registrations = registrations
        self._plan = plan
        self._clock = clock
        self._repairs = repairs

    def now(self) -> float:
        return self._clock()

    async def observe(self, portal: PortalLines, line: Line) -> Observation:
        """Read both sides of one line and cross-check them."""
        if not line.registers_at_voximplant or line.reg_id is None:
            return Observation(cross_check(line, None, None))
        b24 = await portal.status(line.reg_id)
        vox = await self._registrations.registration(line.reg_id)
        return Observation(cross_check(line, b24, vox), b24, vox)

    async def run_pass(
        self, command: Command, portal: PortalLines, line: Line, settle: SettleState
    ) -> PassResult:
        result = self.conclude(command, line, await self.observe(portal, line), settle)
        if result.verdict is None:
            return result
        (repaired,) = await self.apply_policy(
            command,
            portal,
            [(line, result)],
            follow_up_id=lambda _, n: f"{command.id[:96]}/repair-{n}",
        )
        return repaired

    async def apply_policy(
        self,
        command: Command,
        portal: PortalLines,
        settled: Sequence[tuple[Line, PassResult]],
        *,
        follow_up_id: FollowUpId,
    ) -> list[PassResult]:
        """Apply the portal's repair policy to settled checks (one line's, or a sweep's);
        the results in order, each unchanged when there is nothing to repair."""
        if self._repairs is None or not self._repairs.policy(command.portal).repairs:
            return [result for _, result in settled]
        return await self._repairs.apply(command, portal, settled, follow_up_id=follow_up_id)

    def conclude(
        self,
        command: Command,
        line: Line,
        seen: Observation,
        settle: SettleState,
        *,
        follow_up_id: str | None = None,
    ) -> PassResult:
        """Turn one observation into an event, or a re-check when the line is still settling.

        ``settle`` is the state before this check; the event counts this check too.
        """
        check, b24, vox = seen.check, seen.b24, seen.vox
        now = self.now()
        state = settle.advanced()
        elapsed = state.elapsed(now)
        if check.verdict is not None:
            event = reconciled(
                line, check, b24, vox, attempts=state.attempt, settle_seconds=elapsed
            )
            return PassResult(event=event, verdict=check.verdict)
        delay = self._plan.next_delay(state.attempt, elapsed)
        if delay is None:
            final = timed_out(check)
            event = reconciled(line, final, b24, vox, attempts=state.attempt, settle_seconds=None)
            return PassResult(event=event, verdict=final.verdict)
        recheck = recheck_of(command, line, follow_up_id or command.id)
        return PassResult(follow_up=FollowUp(recheck, delay=delay, settle=state))
