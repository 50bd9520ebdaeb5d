"""The repair policy applied to settled checks: repair, count, and report.

Under a portal's ``repair`` policy (``worker.domain.repair``) a settled ``config_drift`` or
``missing_registration`` is repaired, for one line (``line.*`` commands) or for every line
of a sweep alike: the budget is spent in the :class:`~worker.handlers.ports.RepairLedger`,
the line's own Bitrix24 server and login are applied again (``voximplant.sip.update``; never
a password), the ``line.reconciled`` says ``repair: started`` and a re-check with a fresh
settle window and an id of its own follows. The next settled check of the line, whichever
command makes it, completes the repair into a ``line.repaired`` (the verdict before and
after), published after that check's ``line.reconciled``. A line whose budget is spent is
reported (``repair: exhausted``, a ``repair_exhausted:`` finding) and left alone. An update
Bitrix24 refuses or does not answer is reported (``repair: not_applied``) without failing the
command: in a sweep one line's repair must not cost every other line its report.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Literal

from contracts import Command, LineReconciledData, LineRepairedData, Verdict
from worker.domain.model import Line
from worker.domain.repair import PortalPolicy, RepairNote, exhausted_finding, reapply
from worker.domain.settle import SettlePlan, SettleState
from worker.errors import PermanentError, TransientError
from worker.handlers.checking import Clock, FollowUpId, PassResult, recheck_of, subject
from worker.handlers.ports import PortalLines, Portals, RepairLedger, RepairObserver
from worker.runtime.handler import EventDraft, FollowUp


class _NoObserver:
    def repair(self, outcome: str) -> None:
        return None


class Repairs:
    """The :class:`~worker.handlers.checking.RepairStep` of a worker with a repair ledger."""

    def __init__(
        self,
        *,
        portals: Portals,
        ledger: RepairLedger,
        plan: SettlePlan,
        clock: Clock = time.time,
        observer: RepairObserver | None = None,
    ) -> None:
        self._portals = portals
        self._ledger = ledger
        self._plan = plan
        self._clock = clock
        self._observer: RepairObserver = observer or _NoObserver()

    def policy(self, portal: str) -> PortalPolicy:
        return self._portals.policy(portal)

    async def apply(
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
        if not policy.repairs:
            return [result for _, result in settled]
        now = self._clock()
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
        reconciled = result.event.data
        assert isinstance(reconciled, LineReconciledData)
        now = self._clock()
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
        try:
            await portal.update_line(
                line.config_id, title=None, server=values.server, login=values.login, password=None
            )
        except (TransientError, PermanentError) as exc:
            # One line's failed repair must not fail the check (or a sweep of every line):
            # it is reported, counted against the budget, and tried again at a later check.
            await self._ledger.settle(command.portal, [line.config_id], now=now)  # not made
            self._observer.repair("failed")
            finding = f"repair not applied: voximplant.sip.update failed ({exc.code}: {exc})"
            data = reconciled.model_copy(
                update={"repair": "not_applied", "findings": [*reconciled.findings, finding]}
            )
            return replace(result, event=EventDraft(data, subject=result.event.subject))
        started = SettleState.start(now)
        delay = self._plan.next_delay(started.attempt, 0.0)
        assert delay is not None  # a fresh window always has a first interval
        recheck = recheck_of(command, line, follow_up_id(line, spent.used))
        data = reconciled.model_copy(update={"repair": "started"})
        return replace(
            result,
            event=EventDraft(data, subject=result.event.subject),
            follow_up=FollowUp(recheck, delay=delay, settle=started),
        )
