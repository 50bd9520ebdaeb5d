"""``portal.sweep``: reconcile every line of a portal in a bounded number of requests.

The lines come from ``voximplant.sip.get`` pages (50 a page), their Bitrix24 statuses
through ``batch`` (50 a request), and the Voximplant side from ``GetSipRegistrations`` read
page by page — never one call per line. A 1,000-line portal costs about 20 + 20 + 1 requests.
"""

from __future__ import annotations

from collections import Counter

from contracts import PortalSweep, PortalSweptData, Verdict
from worker.domain.crosscheck import cross_check
from worker.domain.settle import SettleState
from worker.handlers.checking import LineChecker, Observation
from worker.handlers.ports import Portals, Registrations
from worker.observability.meter import metering
from worker.runtime.handler import CommandContext, EventDraft, FollowUp, Outcome


class SweepPortal:
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
        portal = self._portals.for_portal(command.portal)
        with metering() as calls:
            lines = await portal.list_lines()
            reg_ids = [ln.reg_id for ln in lines if ln.registers_at_voximplant and ln.reg_id]
            statuses = await portal.statuses(reg_ids)
            registrations = await self._registrations.all_registrations() if reg_ids else {}
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
            upstream_calls={"bitrix24": calls["bitrix24"], "voximplant": calls["voximplant"]},
        )
        events.append(EventDraft(summary, subject=command.portal))
        return Outcome(events=events, follow_ups=follow_ups)
