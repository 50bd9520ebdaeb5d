"""``portal.sweep``: reconcile every line of a portal in a bounded number of requests.

The portal's gateway reads every line and its Bitrix24 status together (``survey``), the
Voximplant gateway every registration of the account; never one call per line. Each says
how many requests it sent, and that is what ``portal.swept`` reports in ``upstream_calls``.
docs/architecture.md ("The sweep's request budget") has the figures.
"""

from __future__ import annotations

from collections import Counter

from contracts import PortalSweep, PortalSweptData, Verdict
from worker.domain.crosscheck import cross_check
from worker.domain.model import AccountSurvey
from worker.domain.settle import SettleState
from worker.handlers.checking import LineChecker, Observation
from worker.handlers.ports import Portals, Registrations
from worker.runtime.handler import CommandContext, EventDraft, FollowUp, Outcome


class SweepPortal:
    """Cross-check every line of a portal; lines still registering get their own re-check."""

    def __init__(
        self,
        *,
        portals: Portals,
        registrations: Registrations,
        checker: LineChecker,
        report_only_divergent: bool = False,
    ) -> None:
        self._portals = portals
        self._registrations = registrations
        self._checker = checker
        self._only_divergent = report_only_divergent

    async def __call__(self, command: PortalSweep, context: CommandContext) -> Outcome:
        portal = self._portals.get(command.portal)
        survey = await portal.survey()
        lines, statuses = survey.lines, survey.statuses
        account = (
            await self._registrations.all_registrations()
            if any(line.registers_at_voximplant for line in lines)
            else AccountSurvey()
        )
        registrations = account.registrations
        started = SettleState.start(self._checker.now())
        verdicts: Counter[Verdict] = Counter()
        events: list[EventDraft] = []
        follow_ups: list[FollowUp] = []
        for line in lines:
            b24 = statuses.get(line.reg_id) if line.reg_id is not None else None
            vox = registrations.get(line.reg_id) if line.reg_id is not None else None
            result = self._checker.conclude(
                command,
                line,
                Observation(cross_check(line, b24, vox), b24, vox),
                started,
                follow_up_id=f"{command.id[:100]}/line-{line.config_id}",
            )
            if result.follow_up is not None:
                follow_ups.append(result.follow_up)
                continue
            assert result.verdict is not None
            assert result.event is not None
            verdicts[result.verdict] += 1
            if not (self._only_divergent and result.verdict is Verdict.IN_SYNC):
                events.append(result.event)
        summary = PortalSweptData(
            lines_checked=len(lines),
            lines_pending=len(follow_ups),
            verdicts=dict(verdicts),
            upstream_calls={"bitrix24": survey.requests, "voximplant": account.requests},
        )
        events.append(EventDraft(summary, subject=command.portal))
        return Outcome(events=events, follow_ups=follow_ups)
