"""``portal.sweep`` against fakes of the ports: verdicts, pending lines, what it reports."""

from __future__ import annotations

import pytest

from contracts import LineReconcile, LineReconciledData, PortalSweep, PortalSweptData, Verdict
from tests.domain.builders import FAILING_B24, FAILING_VOX, b24, line, vox
from tests.handlers.fakes import PORTAL, FakeAccount, FakeClock, FakePortal, FakePortals, command
from worker.handlers.registry import build_handlers
from worker.runtime.handler import CommandContext, Outcome
from worker.settings import Settings

CONTEXT = CommandContext(attempt=1)
SWEEP = command(PortalSweep, "s1")


def populated() -> tuple[FakePortal, FakeAccount]:
    """Four lines: in sync, failing, still registering, and an office line."""
    portal, account = FakePortal(), FakeAccount()
    portal.put(line(config_id=1, reg_id=11), b24())
    account.registrations[11] = vox(sip_registration_id=11)
    portal.put(line(config_id=2, reg_id=12, title="b"), b24(**FAILING_B24))
    account.registrations[12] = vox(sip_registration_id=12, **FAILING_VOX)
    portal.put(line(config_id=3, reg_id=13, title="c"), b24(status_result="wait"))
    account.registrations[13] = vox(
        sip_registration_id=13, successful=None, status_code=None, in_progress=True
    )
    portal.put(line(config_id=4, line_type="office", reg_id=None, title="d"))
    return portal, account


async def sweep(portal: FakePortal, account: FakeAccount, *, only_divergent: bool) -> Outcome:
    handlers = build_handlers(
        portals=FakePortals({PORTAL: portal}),
        registrations=account,
        settings=Settings(sweep_report_only_divergent=only_divergent),
        clock=FakeClock(),
    )
    return await handlers["portal.sweep"](SWEEP, CONTEXT)


def summary(outcome: Outcome) -> PortalSweptData:
    last = outcome.events[-1].data
    assert isinstance(last, PortalSweptData)
    return last


def verdicts(outcome: Outcome) -> dict[int, Verdict]:
    found = {}
    for event in outcome.events[:-1]:
        assert isinstance(event.data, LineReconciledData)
        found[event.data.config_id] = event.data.verdict
    return found


async def test_a_sweep_reports_every_settled_line_and_re_checks_the_rest() -> None:
    portal, account = populated()
    outcome = await sweep(portal, account, only_divergent=False)
    assert verdicts(outcome) == {
        1: Verdict.IN_SYNC,
        2: Verdict.REGISTRATION_FAILED,
        4: Verdict.IN_SYNC,
    }
    swept = summary(outcome)
    assert (swept.lines_checked, swept.lines_pending) == (4, 1)
    assert swept.verdicts == {Verdict.IN_SYNC: 2, Verdict.REGISTRATION_FAILED: 1}
    [follow_up] = outcome.follow_ups
    assert isinstance(follow_up.command, LineReconcile)
    assert follow_up.command.data.config_id == 3
    assert follow_up.command.id == "s1/line-3"  # one re-check per line, its own id
    assert follow_up.command.causationid == "s1"


async def test_report_only_divergent_leaves_in_sync_lines_out_of_the_events() -> None:
    portal, account = populated()
    everything = await sweep(portal, account, only_divergent=False)
    divergent = await sweep(portal, account, only_divergent=True)
    assert verdicts(divergent) == {2: Verdict.REGISTRATION_FAILED}
    assert summary(divergent) == summary(everything)  # the counts still cover every line
    assert len(divergent.follow_ups) == 1


@pytest.mark.parametrize(("lines", "bitrix24", "voximplant"), [(1, 2, 1), (120, 6, 1)])
async def test_upstream_calls_are_what_the_ports_say_they_sent(
    lines: int, bitrix24: int, voximplant: int
) -> None:
    portal, account = FakePortal(), FakeAccount()
    for n in range(1, lines + 1):
        portal.put(line(config_id=n, reg_id=100 + n, title=f"t{n}"), b24())
        account.registrations[100 + n] = vox(sip_registration_id=100 + n)
    outcome = await sweep(portal, account, only_divergent=True)
    swept = summary(outcome)
    assert swept.upstream_calls == {"bitrix24": bitrix24, "voximplant": voximplant}
    assert swept.verdicts == {Verdict.IN_SYNC: lines}
    assert len(outcome.events) == 1  # only portal.swept: every line is in sync


async def test_a_portal_of_office_lines_does_not_read_the_voximplant_account() -> None:
    portal = FakePortal()
    portal.put(line(config_id=1, line_type="office", reg_id=None))
    outcome = await sweep(portal, FakeAccount(), only_divergent=False)
    assert summary(outcome).upstream_calls == {"bitrix24": 1, "voximplant": 0}
