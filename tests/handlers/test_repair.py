"""The repair policy against fakes of the ports: what is repaired, how often, what is told.

Under ``repair`` a ``config_drift`` or ``missing_registration`` is re-applied from the
line's own Bitrix24 settings and re-checked; the next settled check completes it into a
``line.repaired``; at most ``budget`` repairs per line per hour, then ``repair_exhausted``
and nothing more; ``registration_failed`` is never repaired; ``observe`` never repairs.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from contracts import (
    LineReconcile,
    LineReconciledData,
    LineRefData,
    LineRepairedData,
    PortalSweep,
    PortalSweptData,
    Verdict,
)
from tests.domain.builders import FAILING_B24, FAILING_VOX, b24, line, vox
from tests.handlers.fakes import (
    PORTAL,
    FakeAccount,
    FakeClock,
    FakePortal,
    FakePortals,
    FakeRepairs,
    command,
)
from worker.domain.errors import LineNotFound
from worker.domain.model import Line
from worker.domain.repair import PortalPolicy
from worker.errors import TransientError
from worker.handlers.registry import build_handlers
from worker.runtime.handler import CommandContext, CommandHandler, FollowUp, Outcome
from worker.settings import Settings
from worker.store.repairs import MemoryRepairLedger

CONTEXT = CommandContext(attempt=1)
DRIFTED = {"proxy": "elsewhere.example.net"}


class Rig:
    """One portal with one line, its account, the handlers under a policy."""

    def __init__(self, policy: PortalPolicy, *, heals: bool = True) -> None:
        self.clock = FakeClock()
        self.portal, self.account = FakePortal(), FakeAccount()
        self.observer = FakeRepairs()
        self.ledger = MemoryRepairLedger()
        self.portal.put(line(), b24())
        self.account.registrations[line().reg_id or 0] = vox()
        if heals:  # Bitrix24 pushes the line to Voximplant again: the registration is true
            self.portal.on_update = self._push
        self.handlers: dict[str, CommandHandler] = build_handlers(
            portals=FakePortals({PORTAL: self.portal}, {PORTAL: policy}),
            registrations=self.account,
            settings=Settings(settle_intervals=[1.0], settle_deadline=30.0),
            clock=self.clock,
            repairs=self.ledger,
            repair_observer=self.observer,
        )

    def _push(self, pushed: Line) -> None:
        assert pushed.reg_id is not None
        self.account.registrations[pushed.reg_id] = vox(
            sip_registration_id=pushed.reg_id, proxy=pushed.server, sip_username=pushed.login
        )

    def diverge(self, **changes: object) -> None:
        reg_id = line().reg_id or 0
        self.account.registrations[reg_id] = replace(vox(), **changes)  # type: ignore[arg-type]

    def lose_registration(self) -> None:
        self.account.registrations.clear()

    async def reconcile(self, command_id: str = "r1") -> Outcome:
        cmd = command(LineReconcile, command_id, LineRefData(config_id=line().config_id))
        return await self.handlers["line.reconcile"](cmd, CONTEXT)

    async def follow(self, follow_up: FollowUp) -> Outcome:
        self.clock.advance(follow_up.delay)
        context = CommandContext(attempt=1, settle=follow_up.settle)
        return await self.handlers["line.reconcile"](follow_up.command, context)


def reconciled(outcome: Outcome) -> LineReconciledData:
    [data] = [e.data for e in outcome.events if isinstance(e.data, LineReconciledData)]
    return data


def repaired(outcome: Outcome) -> list[LineRepairedData]:
    return [e.data for e in outcome.events if isinstance(e.data, LineRepairedData)]


REPAIR = PortalPolicy(mode="repair")


async def test_observe_reports_drift_and_changes_nothing() -> None:
    rig = Rig(PortalPolicy(mode="observe"))
    rig.diverge(**DRIFTED)
    outcome = await rig.reconcile()
    data = reconciled(outcome)
    assert (data.verdict, data.repair) == (Verdict.CONFIG_DRIFT, None)
    assert outcome.follow_ups == []
    assert "update_line" not in rig.portal.calls
    assert rig.observer.outcomes == []


async def test_drift_is_re_applied_from_bitrix24_then_re_checked_into_line_repaired() -> None:
    rig = Rig(REPAIR)
    rig.diverge(**DRIFTED)
    first = await rig.reconcile()
    data = reconciled(first)
    assert (data.verdict, data.repair) == (Verdict.CONFIG_DRIFT, "started")
    assert repaired(first) == []
    assert rig.portal.updates == [
        {
            "config_id": 42,
            "title": None,
            "server": "sip.example.net",  # Bitrix24's own values, as voximplant.sip.get lists
            "login": "100200",
            "password": None,  # never sent: Bitrix24 keeps it
        }
    ]
    [follow_up] = first.follow_ups
    assert follow_up.command.id == "r1/repair-1"  # its events get ids of their own
    assert follow_up.command.causationid == "r1"
    assert follow_up.settle is not None
    assert follow_up.settle.attempt == 0

    second = await rig.follow(follow_up)
    after = reconciled(second)
    assert (after.verdict, after.repair) == (Verdict.IN_SYNC, None)
    [done] = repaired(second)
    assert done.verdict_before is Verdict.CONFIG_DRIFT
    assert done.findings_before == data.findings
    assert done.reapplied_fields == ["server", "login"]
    assert (done.server, done.login) == ("sip.example.net", "100200")
    assert (done.verdict_after, done.outcome) == (Verdict.IN_SYNC, "done")
    assert (done.repairs_in_window, done.repair_budget) == (1, 3)
    assert [e.data for e in second.events] == [after, done]  # reconciled first
    assert second.follow_ups == []
    assert rig.observer.outcomes == ["done"]


async def test_a_missing_registration_is_repaired_too() -> None:
    rig = Rig(REPAIR)
    rig.lose_registration()
    first = await rig.reconcile()
    assert reconciled(first).verdict is Verdict.MISSING_REGISTRATION
    assert reconciled(first).repair == "started"
    [follow_up] = first.follow_ups
    [done] = repaired(await rig.follow(follow_up))
    assert (done.verdict_before, done.verdict_after) == (
        Verdict.MISSING_REGISTRATION,
        Verdict.IN_SYNC,
    )


async def test_registration_failed_is_never_repaired() -> None:
    rig = Rig(REPAIR)
    rig.portal.put(line(), b24(**FAILING_B24))
    rig.diverge(**FAILING_VOX)
    outcome = await rig.reconcile()
    data = reconciled(outcome)
    assert (data.verdict, data.repair) == (Verdict.REGISTRATION_FAILED, None)
    assert outcome.follow_ups == []
    assert rig.portal.updates == []
    assert rig.observer.outcomes == []


async def test_a_line_that_cannot_be_healed_is_repaired_budget_times_then_left_alone() -> None:
    rig = Rig(PortalPolicy(mode="repair", budget=2), heals=False)
    rig.diverge(**DRIFTED)
    outcome = await rig.reconcile()
    assert reconciled(outcome).repair == "started"
    [follow_up] = outcome.follow_ups

    outcome = await rig.follow(follow_up)  # still drifted: reported, repaired again
    [failed] = repaired(outcome)
    assert (failed.verdict_after, failed.outcome, failed.repairs_in_window) == (
        Verdict.CONFIG_DRIFT,
        "failed",
        1,
    )
    assert reconciled(outcome).repair == "started"
    [follow_up] = outcome.follow_ups
    assert follow_up.command.id == "r1/repair-1/repair-2"

    outcome = await rig.follow(follow_up)  # the budget is spent: reported, left alone
    [failed] = repaired(outcome)
    assert failed.repairs_in_window == 2
    data = reconciled(outcome)
    assert (data.verdict, data.repair) == (Verdict.CONFIG_DRIFT, "exhausted")
    assert data.findings[-1].startswith("repair_exhausted: 2 repairs of this line")
    assert outcome.follow_ups == []
    assert len(rig.portal.updates) == 2

    # later checks within the hour: reported again, never repaired, never a loop
    again = await rig.reconcile("r2")
    assert reconciled(again).repair == "exhausted"
    assert (again.follow_ups, repaired(again), len(rig.portal.updates)) == ([], [], 2)
    assert rig.observer.outcomes == ["failed", "failed", "exhausted", "exhausted"]

    rig.clock.advance(3600)  # the hour has moved on: one more try
    later = await rig.reconcile("r3")
    assert reconciled(later).repair == "started"
    assert len(rig.portal.updates) == 3


async def test_a_budget_of_zero_never_repairs() -> None:
    rig = Rig(PortalPolicy(mode="repair", budget=0))
    rig.diverge(**DRIFTED)
    outcome = await rig.reconcile()
    assert reconciled(outcome).repair == "exhausted"
    assert (outcome.follow_ups, rig.portal.updates) == ([], [])


async def test_a_line_still_registering_keeps_its_repair_until_it_settles() -> None:
    rig = Rig(REPAIR)
    rig.diverge(**DRIFTED)
    [follow_up] = (await rig.reconcile()).follow_ups
    rig.portal.put(line(), b24(status_result="in_progress"))  # re-registering
    pending = await rig.follow(follow_up)
    assert (pending.events, repaired(pending)) == ([], [])
    [follow_up] = pending.follow_ups
    rig.portal.put(line(), b24())
    [done] = repaired(await rig.follow(follow_up))
    assert done.outcome == "done"


async def test_a_sweep_repairs_its_drifted_lines_and_counts_the_update() -> None:
    rig = Rig(REPAIR)
    rig.portal.put(line(config_id=43, reg_id=2, title="second", login="200"), b24())
    rig.account.registrations[2] = vox(sip_registration_id=2, sip_username="200")
    rig.diverge(**DRIFTED)
    outcome = await rig.handlers["portal.sweep"](command(PortalSweep, "s1"), CONTEXT)
    by_line = {
        e.data.config_id: e.data for e in outcome.events if isinstance(e.data, LineReconciledData)
    }
    assert by_line[42].repair == "started"
    assert by_line[43].repair is None
    [follow_up] = outcome.follow_ups
    assert follow_up.command.id == "s1/line-42/repair-1"
    swept = outcome.events[-1].data
    assert isinstance(swept, PortalSweptData)
    assert swept.lines_pending == 0
    assert swept.verdicts == {Verdict.CONFIG_DRIFT: 1, Verdict.IN_SYNC: 1}
    assert swept.upstream_calls["bitrix24"] == 2 + 1  # the survey, then one update
    assert swept.orphans is None  # the account is not said to be the portal's own
    [done] = repaired(await rig.follow(follow_up))
    assert done.outcome == "done"


async def test_a_sweep_lists_orphans_when_the_portal_owns_the_account() -> None:
    rig = Rig(PortalPolicy(owns_voximplant_account=True))
    rig.account.registrations[7] = vox(sip_registration_id=7, sip_username="ghost")
    rig.account.registrations[5] = vox(sip_registration_id=5, deactivated=True)
    outcome = await rig.handlers["portal.sweep"](command(PortalSweep, "s1"), CONTEXT)
    swept = outcome.events[-1].data
    assert isinstance(swept, PortalSweptData)
    assert swept.orphans is not None
    assert swept.orphans.count == 2
    assert [
        (o.sip_registration_id, o.sip_username, o.deactivated) for o in swept.orphans.registrations
    ] == [
        (5, "100200", True),
        (7, "ghost", False),
    ]


async def test_orphans_are_listed_even_when_the_portal_has_no_cloud_line() -> None:
    rig = Rig(PortalPolicy(owns_voximplant_account=True))
    rig.portal.lines.clear()
    outcome = await rig.handlers["portal.sweep"](command(PortalSweep, "s1"), CONTEXT)
    swept = outcome.events[-1].data
    assert isinstance(swept, PortalSweptData)
    assert swept.orphans is not None
    assert swept.orphans.count == 1
    assert swept.upstream_calls["voximplant"] == 1


@pytest.mark.parametrize(
    "error",
    [
        TransientError("Bitrix24 answered 503", code="QUERY_LIMIT_EXCEEDED"),
        LineNotFound("line 42 does not exist", code="ERROR_NOT_FOUND"),
    ],
    ids=["transient", "gone"],
)
async def test_an_update_bitrix24_refuses_is_reported_not_raised(error: Exception) -> None:
    rig = Rig(REPAIR)
    rig.diverge(**DRIFTED)
    rig.portal.update_error = error
    outcome = await rig.reconcile()
    data = reconciled(outcome)
    assert (data.verdict, data.repair) == (Verdict.CONFIG_DRIFT, "not_applied")
    assert data.findings[-1].startswith("repair not applied: voximplant.sip.update failed (")
    assert outcome.follow_ups == []
    assert rig.observer.outcomes == ["failed"]
    rig.portal.update_error = None  # the next check tries again; no line.repaired is owed
    again = await rig.reconcile("r2")
    assert (reconciled(again).repair, repaired(again)) == ("started", [])
    [done] = repaired(await rig.follow(again.follow_ups[0]))
    assert done.repairs_in_window == 2  # the refused attempt counted against the budget
