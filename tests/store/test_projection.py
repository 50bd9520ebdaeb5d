"""The example events of the contracts, projected into the store (both backends)."""

from __future__ import annotations

from contracts.examples import EVENTS
from tests.projection.events import created, later, updated
from worker.adapters.store import SqlStore
from worker.projection.changes import apply_event
from worker.store.projection import line_change


async def test_examples_project_once_in_time_order(store: SqlStore) -> None:
    events = sorted(EVENTS.values(), key=lambda e: e.time)
    async with store.unit_of_work() as uow:
        applied = {e.MESSAGE_TYPE: await apply_event(uow, e) for e in events}
        await uow.commit()
    assert applied == {
        "line.created": True,
        "line.updated": True,
        "line.deleted": True,
        "line.reconciled": True,
        "portal.swept": False,
        "command.failed": False,
        "command.rejected": False,
        "command.replayed": False,
        # the line.reconciled that follows a repair carries the verdict after it
        "line.repaired": False,
    }
    async with store.unit_of_work() as uow:
        assert [await apply_event(uow, e) for e in events] == [False] * len(events)
        line = await uow.lines.get("example.bitrix24.ru", 42)
        made = await uow.creates.find(EVENTS["line.created"].causationid or "")
    assert line is not None
    created = EVENTS["line.created"].data
    assert (line.title, line.line_type, line.reg_id) == (
        created.title,
        created.line_type,
        created.reg_id,
    )
    # the examples end with the line deleted after its check: marked, not dropped
    assert line.deleted is True
    assert line.verdict == EVENTS["line.reconciled"].data.verdict.value
    assert line.last_event_id == EVENTS["line.deleted"].id
    assert line.last_command_id == EVENTS["line.deleted"].causationid
    assert made == ("example.bitrix24.ru", 42)


def test_events_about_no_line_map_to_nothing() -> None:
    assert line_change(EVENTS["portal.swept"]) is None
    change = line_change(EVENTS["line.reconciled"])
    assert change is not None
    assert change.verdict == EVENTS["line.reconciled"].data.verdict.value
    assert change.command_id == EVENTS["line.reconciled"].causationid


async def test_a_rename_keeps_the_title_current(store: SqlStore) -> None:
    portal = "rename.test"
    events = [
        created(portal, 7, "front-desk"),
        updated(portal, 7, title="reception", at=later(1)),
        updated(portal, 7, title=None, at=later(2), command_id="c-login"),  # title kept
    ]
    async with store.unit_of_work() as uow:
        assert [await apply_event(uow, e) for e in events] == [True, True, True]
        await uow.commit()
    async with store.unit_of_work(readonly=True) as uow:
        line = await uow.lines.get(portal, 7)
    assert line is not None
    assert (line.title, line.last_command_id) == ("reception", "c-login")
