"""A redelivered ``line.create`` finds the line it made by its command id, even renamed.

A real worker (sandbox portal and account, the real broker) with a store on each backend:
the projection records command id → line from ``line.created``; the create handler asks
that record before it looks by title, so a create redelivered after its line was renamed
makes no second line.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.e2e.conftest import PORTAL, Stack, running_stack
from worker.adapters.store import SqlStore
from worker.sandbox.registrations import DEFAULT_PASSWORD, DEFAULT_SERVER

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
async def stack(tmp_path: Path, store: SqlStore) -> AsyncIterator[Stack]:
    async with running_stack(tmp_path, "crlookup", store=store) as running:
        yield running


async def recorded(store: SqlStore, command_id: str) -> tuple[str, int]:
    """The projection's command id → line record, once it has caught up."""
    async with asyncio.timeout(20):
        while True:
            async with store.unit_of_work(readonly=True) as uow:
                found = await uow.creates.find(command_id)
            if found is not None:
                return found
            await asyncio.sleep(0.1)


async def test_a_create_redelivered_after_a_rename_finds_its_line(
    stack: Stack, store: SqlStore
) -> None:
    body = {
        "title": "front-desk",
        "server": DEFAULT_SERVER,
        "login": "user-front",
        "password": DEFAULT_PASSWORD,
    }
    first = await stack.send("line.create", body)
    made = (await stack.outcome(first, "line.created"))[0]["data"]
    config_id = made["config_id"]
    assert made["already_existed"] is False
    assert await recorded(store, first) == (PORTAL, config_id)

    rename = await stack.send("line.update", {"config_id": config_id, "title": "reception"})
    await stack.outcome(rename, "line.updated")

    again = await stack.send("line.create", body, id_=first)  # the same command, redelivered
    created = await stack.outcome(again, "line.created", count=2)
    second = created[1]["data"]
    assert second["already_existed"] is True
    assert second["config_id"] == config_id
    assert second["title"] == "reception"  # the line as it is now, not as first asked
    titles = [line.title for line in stack.sandbox.portal().lines.lines.values()]
    assert titles == ["reception"]  # no second line


async def test_a_new_create_with_a_taken_title_still_goes_by_title(
    stack: Stack, store: SqlStore
) -> None:
    first = await stack.create("main")
    await recorded(store, first["command_id"])
    other = await stack.send(
        "line.create",
        {
            "title": "main",
            "server": DEFAULT_SERVER,
            "login": "user-main",
            "password": DEFAULT_PASSWORD,
        },
    )
    second = (await stack.outcome(other, "line.created"))[0]["data"]
    assert (second["already_existed"], second["config_id"]) == (True, first["config_id"])
    assert len(stack.sandbox.portal().lines.lines) == 1
