"""The line handlers against fakes of the ports: the rules that live in the handlers."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
from pydantic import SecretStr

from contracts import (
    LineCreate,
    LineCreateData,
    LineCreatedData,
    LineDelete,
    LineDeletedData,
    LineReconcile,
    LineReconciledData,
    LineRefData,
    LineUpdate,
    LineUpdateData,
    Verdict,
)
from tests.domain.builders import b24, line, vox
from tests.handlers.fakes import (
    PORTAL,
    FakeAccount,
    FakeClock,
    FakePortal,
    FakePortals,
    command,
)
from worker.domain.errors import ConnectorUnpaid, LineNotFound, TitleTaken
from worker.domain.model import ConnectorState
from worker.domain.settle import SettleState
from worker.errors import NeedsOperator
from worker.handlers.registry import build_handlers
from worker.runtime.handler import CommandContext, CommandHandler
from worker.settings import Settings

CONTEXT = CommandContext(attempt=1)


def create(command_id: str, *, login: str = "100") -> LineCreate:
    data = LineCreateData(
        title="Office", server="sip.example.net", login=login, password=SecretStr("pw")
    )
    return command(LineCreate, command_id, data)


@pytest.fixture
def portal() -> FakePortal:
    return FakePortal()


@pytest.fixture
def account() -> FakeAccount:
    return FakeAccount()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def handlers(
    portal: FakePortal, account: FakeAccount, clock: FakeClock
) -> dict[str, CommandHandler]:
    return build_handlers(
        portals=FakePortals({PORTAL: portal}),
        registrations=account,
        settings=Settings(),
        clock=clock,
    )


def reconcile(config_id: int) -> LineReconcile:
    return command(LineReconcile, f"r{config_id}", LineRefData(config_id=config_id))


async def test_an_unpaid_connector_refuses_a_create_before_anything_changes(
    portal: FakePortal, handlers: dict[str, CommandHandler]
) -> None:
    portal.connector_state = ConnectorState(paid=False, free_minutes=0)
    with pytest.raises(ConnectorUnpaid) as caught:
        await handlers["line.create"](create("c1"), CONTEXT)
    assert caught.value.code == "CONNECTOR_UNPAID"
    assert isinstance(caught.value, NeedsOperator)  # kept for a replay once it is paid
    assert portal.calls == ["connector"]
    assert portal.lines == {}


async def test_free_minutes_are_enough_to_create(
    portal: FakePortal, handlers: dict[str, CommandHandler]
) -> None:
    portal.connector_state = ConnectorState(paid=False, free_minutes=5)
    outcome = await handlers["line.create"](create("c1"), CONTEXT)
    assert isinstance(outcome.events[0].data, LineCreatedData)
    assert len(portal.lines) == 1


async def test_two_creates_racing_for_one_title_make_one_line(
    portal: FakePortal, handlers: dict[str, CommandHandler]
) -> None:
    portal.lookup_gate = asyncio.Barrier(2)  # both look the title up before either adds
    first, second = await asyncio.gather(
        handlers["line.create"](create("c1"), CONTEXT),
        handlers["line.create"](create("c2"), CONTEXT),
    )
    assert portal.calls.count("add_line") == 2  # the loser's add met TitleTaken
    [line] = portal.lines.values()
    created = [first.events[0].data, second.events[0].data]
    assert {getattr(d, "config_id", None) for d in created} == {line.config_id}
    assert sorted(getattr(d, "already_existed", None) for d in created) == [False, True]


async def test_a_title_taken_by_another_account_is_refused(
    portal: FakePortal, handlers: dict[str, CommandHandler]
) -> None:
    portal.lookup_gate = asyncio.Barrier(2)
    results = await asyncio.gather(
        handlers["line.create"](create("c1", login="100"), CONTEXT),
        handlers["line.create"](create("c2", login="200"), CONTEXT),
        return_exceptions=True,
    )
    refused = [r for r in results if isinstance(r, BaseException)]
    assert len(refused) == 1
    assert isinstance(refused[0], TitleTaken)
    assert refused[0].code == "TITLE_EXISTS"
    assert "another server or login" in str(refused[0])
    assert len(portal.lines) == 1


async def test_a_created_line_still_registering_is_checked_again_later(
    portal: FakePortal, account: FakeAccount, handlers: dict[str, CommandHandler]
) -> None:
    reg_id = 1001  # the fake portal's first cloud line
    account.registrations[reg_id] = vox(
        sip_registration_id=reg_id, successful=None, status_code=None, in_progress=True
    )
    outcome = await handlers["line.create"](create("c1"), CONTEXT)
    [line] = portal.lines.values()
    assert line.reg_id == reg_id
    assert [type(e.data) for e in outcome.events] == [LineCreatedData]  # no verdict yet
    [follow_up] = outcome.follow_ups
    assert isinstance(follow_up.command, LineReconcile)
    assert follow_up.command.causationid == "c1"
    assert follow_up.delay == Settings().settle_intervals[0]


async def test_reconcile_of_a_missing_line_is_line_not_found(
    handlers: dict[str, CommandHandler],
) -> None:
    with pytest.raises(LineNotFound) as caught:
        await handlers["line.reconcile"](reconcile(9), CONTEXT)
    assert caught.value.code == "ERROR_NOT_FOUND"


async def test_an_update_of_a_missing_line_fails_as_the_port_said(
    handlers: dict[str, CommandHandler],
) -> None:
    update = command(LineUpdate, "u1", LineUpdateData(config_id=9, title="new"))
    with pytest.raises(LineNotFound):
        await handlers["line.update"](update, CONTEXT)


async def test_deleting_an_absent_line_succeeds(
    portal: FakePortal, handlers: dict[str, CommandHandler]
) -> None:
    delete = command(LineDelete, "d1", LineRefData(config_id=9))
    outcome = await handlers["line.delete"](delete, CONTEXT)
    [event] = outcome.events
    assert isinstance(event.data, LineDeletedData)
    assert (event.data.already_absent, event.data.registration_removed) == (True, True)
    assert "delete_line" not in portal.calls


async def test_a_re_check_past_the_settle_deadline_times_out(
    portal: FakePortal,
    account: FakeAccount,
    clock: FakeClock,
    handlers: dict[str, CommandHandler],
) -> None:
    pending = line(config_id=5, reg_id=15)
    portal.put(pending, b24(status_result="wait"))
    account.registrations[15] = vox(
        sip_registration_id=15, successful=None, status_code=None, in_progress=True
    )
    started = SettleState.start(clock.now)
    first = await handlers["line.reconcile"](reconcile(5), CommandContext(attempt=1))
    [follow_up] = first.follow_ups  # still registering: checked again later
    assert follow_up.delay == Settings().settle_intervals[0]

    clock.advance(Settings().settle_deadline + 1)
    carried = CommandContext(attempt=1, settle=replace(started, attempt=4))
    last = await handlers["line.reconcile"](reconcile(5), carried)
    assert last.follow_ups == []
    [event] = last.events
    assert isinstance(event.data, LineReconciledData)
    assert event.data.verdict is Verdict.PENDING_TIMEOUT
    assert event.data.attempts == 5
