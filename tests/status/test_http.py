"""The JSON API and the status page over a real store, served by a real aiohttp server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from contracts.events import Verdict
from tests.projection.events import created, later, reconciled
from tests.status.fixtures import DRIFT_FINDING, FAILED_FINDING, fill
from worker.adapters.store import SqlStore
from worker.http.api import StatusApiRoutes
from worker.http.status_page import StatusPageRoutes
from worker.status.html import DeadLetterGroup, DeadLetterView
from worker.status.query import StatusQuery

NOW = datetime(2026, 11, 30, 11, 0, tzinfo=UTC)


class FixedDeadLetters:
    async def summary(self) -> DeadLetterView:
        return DeadLetterView(
            depth=3,
            groups=[DeadLetterGroup("schema_violation", "line.create", 2)],
            sampled=3,
            as_of=NOW,
        )

    async def close(self) -> None:
        return None


@pytest.fixture
async def client(store: SqlStore) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    query = StatusQuery(store=store)
    app = web.Application()
    StatusApiRoutes(query).install(app)
    StatusPageRoutes(query, dead_letters=FixedDeadLetters(), clock=lambda: NOW).install(app)
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


async def test_lines_api_filters_like_the_cli(
    client: TestClient[web.Request, web.Application], store: SqlStore
) -> None:
    await fill(store)
    response = await client.get("/v1/lines", params={"verdict": "config_drift"})
    assert response.status == 200
    body = await response.json()
    assert body["count"] == 1
    (line,) = body["lines"]
    assert (line["portal"], line["config_id"], line["findings"]) == (
        "alpha.test",
        1,
        [DRIFT_FINDING],
    )
    both = await (
        await client.get("/v1/lines?verdict=config_drift,registration_failed&portal=alpha.test")
    ).json()
    assert [x["config_id"] for x in both["lines"]] == [2, 1]
    everything = await (await client.get("/v1/lines?deleted=1")).json()
    assert everything["count"] == 5
    bad = await client.get("/v1/lines", params={"verdict": "great"})
    assert bad.status == 400
    assert "unknown verdict 'great'" in (await bad.json())["error"]
    assert (await client.get("/v1/lines", params={"out_of_sync": "maybe"})).status == 400


async def test_portals_api_counts_lines_by_verdict(
    client: TestClient[web.Request, web.Application], store: SqlStore
) -> None:
    await fill(store)
    body = await (await client.get("/v1/portals")).json()
    assert [(p["portal"], p["lines"], p["out_of_sync"]) for p in body["portals"]] == [
        ("alpha.test", 3, 2),
        ("beta.test", 1, 0),
    ]
    assert body["portals"][0]["verdicts"] == {
        "registration_failed": 1,
        "config_drift": 1,
        "in_sync": 1,
    }
    assert body["portals"][0]["registered"] is False


async def test_page_lists_out_of_sync_lines_first_and_escapes_what_the_log_says(
    client: TestClient[web.Request, web.Application], store: SqlStore
) -> None:
    hostile = "<script>alert(1)</script>"
    await fill(store)
    await fill(
        store,
        [
            created("gamma.test", 9, hostile),
            reconciled("gamma.test", 9, Verdict.STATUS_MISMATCH, at=later(9), findings=[hostile]),
        ],
    )
    response = await client.get("/")
    assert response.status == 200
    assert response.content_type == "text/html"
    html = await response.text()
    assert hostile not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    attention = html.index("<h2>Out of sync</h2>")
    portals = html.index("<h2>Portals</h2>")
    for text in (FAILED_FINDING, DRIFT_FINDING, "warehouse", "office-main"):
        assert attention < html.index(text) < portals
    assert "reception" not in html  # in sync: counted, not listed
    assert html.index("warehouse") < html.index("office-main")  # worst verdict first
    assert "schema_violation" in html
    assert 'id="dlq-depth">3<' in html
    assert "2026-11-30 10:08:00 UTC" in html  # the last sweep


async def test_page_with_no_lines_says_so(
    client: TestClient[web.Request, web.Application],
) -> None:
    html = await (await client.get("/")).text()
    assert "Every checked line is in sync." in html
    assert "no sweep reported yet" in html
