"""A renamed line shows its new title in ``sipline status`` and ``/v1/lines``.

A real worker (sandbox portal and account, the real broker, its HTTP server) with a store
on each backend: ``line.updated`` carries the title the update set (contract 1.3.0), and the
projection keeps it, so the line is not shown under the title it was created with.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.e2e.conftest import PORTAL, Stack, running_stack
from tests.status.test_cli_status import invoke
from tests.store.conftest import Backend
from worker.adapters.store import SqlStore
from worker.observability.metrics import Metrics

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
async def stack(tmp_path: Path, store: SqlStore) -> AsyncIterator[Stack]:
    async with running_stack(
        tmp_path,
        "rename",
        store=store,
        metrics=Metrics(),
        tap_dead_letters=False,
        metrics_port=0,
        metrics_host="127.0.0.1",
    ) as running:
        assert running.app.http_url is not None
        yield running


async def api_lines(url: str) -> list[dict[str, Any]]:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{url}/v1/lines", params={"portal": PORTAL}) as response:
            assert response.status == 200
            body: dict[str, Any] = await response.json()
    lines: list[dict[str, Any]] = body["lines"]
    return lines


async def until_titled(
    url: str, config_id: int, title: str, *, by: str | None = None
) -> dict[str, Any]:
    """The API's line ``config_id`` once the projection shows it titled ``title`` (and, with
    ``by``, last touched by that command)."""
    async with asyncio.timeout(20):
        while True:
            found = [x for x in await api_lines(url) if x["config_id"] == config_id]
            if found and found[0]["title"] == title and by in (None, found[0]["last_command_id"]):
                return found[0]
            await asyncio.sleep(0.1)


async def test_a_rename_shows_in_sipline_status_and_the_api(stack: Stack, backend: Backend) -> None:
    url = stack.app.http_url
    assert url is not None
    made = await stack.create("front-desk")
    config_id = made["config_id"]
    await stack.outcome(made["command_id"], "line.reconciled")
    await until_titled(url, config_id, "front-desk")

    rename = await stack.send("line.update", {"config_id": config_id, "title": "reception"})
    (updated,) = await stack.outcome(rename, "line.updated")
    assert updated["data"]["title"] == "reception"
    assert updated["data"]["changed_fields"] == ["title"]

    line = await until_titled(url, config_id, "reception")
    assert line["last_command_id"] == rename
    assert line["verdict"] == "in_sync"  # the rename keeps the verdict it had

    table = await invoke(backend, "status", "--portal", PORTAL)
    assert table.exit_code == 0, table.output
    rows = [row.split() for row in table.output.splitlines()[2:] if row.strip()]
    assert [row[:2] for row in rows if row[0] == str(config_id)] == [[str(config_id), "reception"]]
    assert "front-desk" not in table.output
    shown = await invoke(backend, "status", "--json")
    assert [(x["config_id"], x["title"]) for x in json.loads(shown.output)["lines"]] == [
        (config_id, "reception")
    ]


async def test_an_update_that_keeps_the_title_leaves_it_shown(
    stack: Stack, backend: Backend
) -> None:
    url = stack.app.http_url
    assert url is not None
    made = await stack.create("branch")
    config_id = made["config_id"]
    await stack.outcome(made["command_id"], "line.reconciled")
    change = await stack.send("line.update", {"config_id": config_id, "login": "user-branch-2"})
    (updated,) = await stack.outcome(change, "line.updated")
    assert updated["data"]["title"] is None  # the title was kept
    await until_titled(url, config_id, "branch", by=change)
