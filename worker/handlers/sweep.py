"""``portal.sweep``: reconcile every line of a portal in a bounded number of requests.

The portal's gateway reads every line and its Bitrix24 status together (``survey``), the
Voximplant gateway every registration of the account; never one call per line. Each says
how many requests it sent, and that is what ``portal.swept`` reports in ``upstream_calls``.
docs/architecture.md ("The sweep's request budget") has the figures.

Under the portal's ``repair`` policy the settled lines go through the checker's policy
(``LineChecker.apply_policy``): a repaired line costs one ``voximplant.sip.update`` and
gets its own re-check. When the portal's registry entry says the Voximplant account is its
own, ``portal.swept`` also lists the registrations no line references (``orphans``).
"""

from __future__ import annotations

from collections import Counter

from contracts import OrphanRegistration, Orphans, PortalSweep, PortalSweptData, Verdict
from worker.domain.crosscheck import cross_check
from worker.domain.model import AccountSurvey, Line, VoximplantRegistration
from worker.domain.repair import orphans
from worker.domain.settle import SettleState
from worker.handlers.checking import LineChecker, Observation, PassResult
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
        policy = self._portals.policy(command.portal)
        survey = await portal.survey()
        lines, statuses = survey.lines, survey.statuses
        account = (
            await self._registrations.all_registrations()
            if policy.owns_voximplant_account or any(line.registers_at_voximplant for line in lines)
            else AccountSurvey()
        )
        registrations = account.registrations
        started = SettleState.start(self._checker.now())
        prefix = command.id[:80]
        settled: list[tuple[Line, PassResult]] = []
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
            else:
                settled.append((line, result))
        results = await self._checker.apply_policy(
            command,
            portal,
            settled,
            follow_up_id=lambda line, n: f"{prefix}/line-{line.config_id}/repair-{n}",
        )
        verdicts: Counter[Verdict] = Counter()
        events: list[EventDraft] = []
        for result in results:
            assert result.verdict is not None
            verdicts[result.verdict] += 1
            if result.follow_up is not None:
                follow_ups.append(result.follow_up)
            if self._only_divergent and result.verdict is Verdict.IN_SYNC:
                events.extend(e for e in (result.repaired,) if e is not None)
            else:
                events.extend(result.events)
        summary = PortalSweptData(
            lines_checked=len(lines),
            lines_pending=len(follow_ups) - sum(r.follow_up is not None for r in results),
            verdicts=dict(verdicts),
            upstream_calls={
                # each repair started is one voximplant.sip.update
                "bitrix24": survey.requests + sum(r.follow_up is not None for r in results),
                "voximplant": account.requests,
            },
            orphans=_orphans(registrations, lines) if policy.owns_voximplant_account else None,
        )
        events.append(EventDraft(summary, subject=command.portal))
        return Outcome(events=events, follow_ups=follow_ups)


def _orphans(registrations: dict[int, VoximplantRegistration], lines: list[Line]) -> Orphans:
    report = orphans(registrations, lines)
    return Orphans(
        count=report.count,
        registrations=[
            OrphanRegistration(
                sip_registration_id=reg.sip_registration_id,
                sip_username=reg.sip_username,
                proxy=reg.proxy,
                successful=reg.successful,
                deactivated=reg.deactivated,
            )
            for reg in report.listed
        ],
    )
