"""One pass of the cross-check for one line, and what follows from it.

A settled line yields a ``line.reconciled`` event. A line still registering yields a
deferred ``line.reconcile`` (the same command id, so every event of the operation keeps
its causation) delivered again after the next settle interval; past the settle deadline the
verdict is ``pending_timeout``. Nothing here sleeps while holding a delivery.

Under a portal's ``repair`` policy (``worker.domain.repair``) a settled ``config_drift`` or
``missing_registration`` is repaired here, for one line (``line.*`` commands) or for every
line of a sweep alike: the budget is spent in the :class:`RepairLedger`, the line's own
Bitrix24 server and login are applied again (``voximplant.sip.update``), the
``line.reconciled`` says ``repair: started`` and a re-check with a fresh settle window
follows. The next settled check of the line completes the repair into a ``line.repaired``
(the verdict before and after). A line whose budget is spent is reported
(``repair: exhausted``) and left alone.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Literal

from contracts import (
    Command,
    LineReconcile,
    LineReconciledData,
    LineRefData,
    LineRepairedData,
    Verdict,
)
from worker.domain.crosscheck import Check, cross_check, timed_out
from worker.domain.mapping import to_event_sides
from worker.domain.model import Bitrix24Status, Line, VoximplantRegistration
from worker.domain.repair import (
    OBSERVE,
    PortalPolicy,
    RepairNote,
    exhausted_finding,
    reapply,
)
from worker.domain.settle import SettlePlan, SettleState
from worker.handlers.ports import PortalLines, Portals, Registrations, RepairLedger, RepairObserver
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


class _NoObserver:
    def repair(self, outcome: str) -> None:
        return None


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
        portals: Portals | None = None,
        ledger: RepairLedger | None = None,
        observer: RepairObserver | None = None,
    ) -> None:
        """``portals`` and ``ledger`` together enable repairs (each portal's policy says
        whether to); without them every portal is observed only."""
        self._registrations = registrations
        self._plan = plan
        self._clock = clock
        self._portals = portals
        self._ledger = ledger
        self._observer: RepairObserver = observer or _NoObserver()

    def now(self) -> float:
        return self._clock()

    async def observe(self, portal: PortalLines, line: Line) -> Observation:
        """Read both sides of one line and cross-check them."""
        if not line.registers_at_voximplant or line.reg_id is None:
            return Observation(cross_check(line, None, None))
        b24 = await portal.status(line.reg_id)
        vox = await self._registrations.registration(line.reg_id)
        return Observation(cross_check(line, b24, vox), b24, vox)

    def policy(self, portal: str) -> PortalPolicy:
        """The portal's policy; the observe policy when repairs are not wired."""
        if self._portals is None or self._ledger is None:
            return OBSERVE
        return self._portals.policy(portal)

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
        """Apply the portal's repair policy to settled checks (one line's, or a sweep's).

        Completes the repairs these checks follow (``line.repaired``), then repairs the
        lines that need it while their budget lasts; results are returned in order.
        """
        policy = self.policy(command.portal)
        if not policy.repairs or self._ledger is None:
            return [result for _, result in settled]
        now = self.now()
        notes = await self._ledger.settle(
            command.portal, [line.config_id for line, _ in settled], now=now
        )
        out: list[PassResult] = []
        for line, checked in settled:
            result = checked
            note = notes.get(line.config_id)
            if note is not None and result.verdict is not None:
                result = replace(result, repaired=self._repaired(line, note, result.verdict))
            if policy.wants_repair(result.verdict):
                result = await self._repair(
                    command, portal, policy, line, result, follow_up_id=follow_up_id
                )
            out.append(result)
        return out

    def _repaired(self, line: Line, note: RepairNote, after: Verdict) -> EventDraft:
        outcome: Literal["done", "failed"] = "done" if after is Verdict.IN_SYNC else "failed"
        self._observer.repair(outcome)
        data = LineRepairedData(
            config_id=line.config_id,
            reg_id=line.reg_id,
            verdict_before=note.verdict,
            findings_before=list(note.findings),
            reapplied_fields=list(note.fields),
            server=note.server,
            login=note.login,
            verdict_after=after,
            outcome=outcome,
            repairs_in_window=note.used,
            repair_budget=note.budget,
            repaired_at=datetime.fromtimestamp(note.at, UTC),
        )
        return EventDraft(data, subject=subject(line.config_id))

    async def _repair(
        self,
        command: Command,
        portal: PortalLines,
        policy: PortalPolicy,
        line: Line,
        result: PassResult,
        *,
        follow_up_id: FollowUpId,
    ) -> PassResult:
        """Repair one line if its budget allows: the reconciled event says what was done."""
        values = reapply(line)
        if values is None or result.event is None or result.verdict is None:
            return result  # nothing of Bitrix24's own to apply again
        assert self._ledger is not None
        reconciled = result.event.data
        assert isinstance(reconciled, LineReconciledData)
        now = self.now()
        note = RepairNote(
            verdict=result.verdict,
            findings=tuple(reconciled.findings),
            server=values.server,
            login=values.login,
            fields=tuple(values.fields),
            at=now,
            budget=policy.budget,
        )
        spent = await self._ledger.spend(
            command.portal, line.config_id, now=now, budget=policy.budget, note=note
        )
        if not spent.granted:
            self._observer.repair("exhausted")
            data = reconciled.model_copy(
                update={
                    "repair": "exhausted",
                    "findings": [*reconciled.findings, exhausted_finding(spent)],
                }
            )
            return replace(result, event=EventDraft(data, subject=result.event.subject))
        await portal.update_line(
            line.config_id, title=None, server=values.server, login=values.login, password=None
        )
        started = SettleState.start(now)
        delay = self._plan.next_delay(started.attempt, 0.0)
        assert delay is not None  # a fresh window always has a first interval
        recheck = self._recheck(command, line, follow_up_id(line, spent.used))
        data = reconciled.model_copy(update={"repair": "started"})
        return replace(
            result,
            event=EventDraft(data, subject=result.event.subject),
            follow_up=FollowUp(recheck, delay=delay, settle=started),
        )

    def _recheck(self, command: Command, line: Line, command_id: str) -> LineReconcile:
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
        recheck = self._recheck(command, line, follow_up_id or command.id)
        return PassResult(follow_up=FollowUp(recheck, delay=delay, settle=state))
