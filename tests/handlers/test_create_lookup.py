"""``line.create`` with the store's command id → line record, against fakes of the ports."""

from __future__ import annotations

from dataclasses import replace

from pydantic import SecretStr

from contracts import LineCreate, LineCreateData, LineCreatedData
from tests.handlers.fakes import PORTAL, FakeAccount, FakeClock, FakePortal, FakePortals, command
from worker.handlers.registry import build_handlers
from worker.runtime.handler import CommandContext, CommandHandler
from worker.settings import Settings
from worker.store import StoreUnavailable

CONTEXT = CommandContext(attempt=1)


class FakeCreatedLines:
    """The store's record as the projection fills it; ``down`` answers like a lost store."""

    def __init__(self) -> None:
        self.made: dict[str, tuple[str, int]] = {}
        self.down = False

    async def made_by(self, command_id: str) -> tuple[str, int] | None:
        if self.down:
            raise StoreUnavailable("the store at test cannot be reached")
        return self.made.get(command_id)


def create(command_id: str, title: str = "Office") -> LineCreate:
    data = LineCreateData(
        title=title, server="sip.example.net", login="100", password=SecretStr("pw")
    )
    return command(LineCreate, command_id, data)


def handler(portal: FakePortal, created: FakeCreatedLines) -> CommandHandler:
    return build_handlers(
        portals=FakePortals({PORTAL: portal}),
        registrations=FakeAccount(),
        settings=Settings(),
        clock=FakeClock(),
        created_lines=created,
    )["line.create"]


async def renamed_after_create(portal: FakePortal, created: FakeCreatedLines) -> int:
    first = await handler(portal, created)(create("c1"), CONTEXT)
    data = first.events[0].data
    assert isinstance(data, LineCreatedData)
    created.made["c1"] = (PORTAL, data.config_id)  # what the projection records
    portal.lines[data.config_id] = replace(portal.lines[data.config_id], title="Reception")
    return data.config_id


async def test_a_redelivered_create_finds_its_renamed_line_by_command_id() -> None:
    portal, created = FakePortal(), FakeCreatedLines()
    config_id = await renamed_after_create(portal, created)
    again = await handler(portal, created)(create("c1"), CONTEXT)
    data = again.events[0].data
    assert isinstance(data, LineCreatedData)
    assert (data.config_id, data.already_existed, data.title) == (config_id, True, "Reception")
    assert portal.calls.count("add_line") == 1
    assert len(portal.lines) == 1


async def test_without_the_record_a_create_goes_by_title() -> None:
    portal, created = FakePortal(), FakeCreatedLines()
    await renamed_after_create(portal, created)
    created.down = True  # the store cannot answer: the title decides, as without a store
    await handler(portal, created)(create("c1"), CONTEXT)
    assert portal.calls.count("add_line") == 2
    assert sorted(line.title or "" for line in portal.lines.values()) == ["Office", "Reception"]


async def test_a_recorded_line_deleted_since_is_made_again() -> None:
    portal, created = FakePortal(), FakeCreatedLines()
    config_id = await renamed_after_create(portal, created)
    del portal.lines[config_id]
    again = await handler(portal, created)(create("c1"), CONTEXT)
    data = again.events[0].data
    assert isinstance(data, LineCreatedData)
    assert (data.already_existed, data.title) == (False, "Office")
    assert data.config_id != config_id
