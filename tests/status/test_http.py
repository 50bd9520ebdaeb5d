"""The JSON API and the status page over a real store, served by a real aiohttp server."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr

from contracts.events import Verdict
from tests.projection.events import created, later, reconciled
from tests.status.fixtures import DRIFT_FINDING, FAILED_FINDING, fill
from worker.adapters.store import SqlStore
from worker.http.api import StatusApiRoutes
from worker.http.status_page import StatusPageRoutes
from worker.status.html import DeadLetterGroup, DeadLetterView
from worker.status.query import StatusQuery
from worker.store import PortalRecord

CANARY = "CANARY-webhook-code-7f3a"
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


async def test_portals_api_and_page_show_each_portals_last_sweep_and_last_callback(
    client: TestClient[web.Request, web.Application], store: SqlStore
) -> None:
    await fill(store)
    swept = datetime(2026, 11, 30, 10, 30, tzinfo=UTC)  # later than the fill's (beta, 10:08)
    called = datetime(2026, 11, 30, 10, 45, tzinfo=UTC)
    async with store.unit_of_work() as uow:
        await uow.schedule.note_swept("alpha.test", swept)
        await uow.callbacks.note_portal("alpha.test", called)
        await uow.callbacks.note_portal("callback-only.test", called)
        await uow.commit()
    body = await (await client.get("/v1/portals")).json()
    seen = {p["portal"]: (p["last_sweep"], p["last_callback"]) for p in body["portals"]}
    assert seen == {
        "alpha.test": ("2026-11-30T10:30:00Z", "2026-11-30T10:45:00Z"),
        "beta.test": ("2026-11-30T10:08:00Z", None),  # projected from the fill's portal.swept
        "callback-only.test": (None, "2026-11-30T10:45:00Z"),
    }
    html = await (await client.get("/")).text()
    table = html[html.index("<h2>Portals</h2>") :]
    assert "<th>Last sweep</th><th>Last callback</th>" in table
    alpha = table[table.index("alpha.test") : table.index("</tr>", table.index("alpha.test"))]
    assert '<td data-label="Last sweep"><time' in alpha
    assert "2026-11-30 10:30:00 UTC" in alpha
    assert "2026-11-30 10:45:00 UTC" in alpha
    beta = table[table.index("beta.test") : table.index("</tr>", table.index("beta.test"))]
    assert '<td data-label="Last callback">-</td>' in beta


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


async def many_lines(store: SqlStore, portals: int, per_portal: int) -> None:
    """``portals`` × ``per_portal`` lines; every line's verdict is config_drift or in_sync."""
    events = []
    for p in range(portals):
        for n in range(1, per_portal + 1):
            verdict = Verdict.CONFIG_DRIFT if (p + n) % 2 else Verdict.IN_SYNC
            events += [
                created(f"p{p:02d}.test", n, f"line {p}-{n}"),
                reconciled(f"p{p:02d}.test", n, verdict, at=later(n), findings=["x"]),
            ]
    await fill(store, events)


async def test_lines_come_in_pages_that_follow_next_to_the_end(
    client: TestClient[web.Request, web.Application], store: SqlStore
) -> None:
    await many_lines(store, 7, 3)
    whole = await (await client.get("/v1/lines", params={"limit": "1000"})).json()
    assert whole["count"] == 21
    assert whole["next"] is None
    seen: list[tuple[str, int]] = []
    url: str | None = "/v1/lines?verdict=config_drift&limit=4"
    pages = 0
    while url is not None:
        body = await (await client.get(url)).json()
        assert body["count"] == len(body["lines"]) <= 4
        seen += [(x["portal"], x["config_id"]) for x in body["lines"]]
        assert all(x["verdict"] == "config_drift" for x in body["lines"])
        url = body["next"]
        assert url is None or ("verdict=config_drift" in url and "limit=4" in url)
        pages += 1
    drifting = [
        (x["portal"], x["config_id"]) for x in whole["lines"] if x["verdict"] == "config_drift"
    ]
    assert seen == drifting  # every one once, in the order of the whole listing
    assert pages == -(-len(drifting) // 4)


async def test_a_page_orders_worst_first_within_a_portal_across_its_boundary(
    client: TestClient[web.Request, web.Application], store: SqlStore
) -> None:
    await fill(store)
    first = await (await client.get("/v1/lines", params={"limit": "2"})).json()
    assert [(x["portal"], x["verdict"]) for x in first["lines"]] == [
        ("alpha.test", "registration_failed"),
        ("alpha.test", "config_drift"),
    ]
    rest = await (await client.get(first["next"])).json()
    assert [(x["portal"], x["verdict"]) for x in rest["lines"]] == [
        ("alpha.test", "in_sync"),
        ("beta.test", "in_sync"),
    ]
    assert rest["next"] is None


# a cursor of the other route's shape: ["a","b",3] for /v1/lines, ["a",1,2] for /v1/portals
@pytest.mark.parametrize(
    ("path", "foreign_cursor"),
    [("/v1/lines", "WyJhIiwiYiIsM10"), ("/v1/portals", "WyJhIiwxLDJd")],
)
async def test_bad_paging_parameters_are_400s_naming_them(
    client: TestClient[web.Request, web.Application], path: str, foreign_cursor: str
) -> None:
    for params, word in (
        ({"limit": "0"}, "limit"),
        ({"limit": "many"}, "limit"),
        ({"limit": "10001"}, "limit"),
        ({"after": "not-a-cursor"}, "after"),
        ({"after": foreign_cursor}, "after"),
    ):
        response = await client.get(path, params=params)
        assert response.status == 400, params
        assert word in (await response.json())["error"]


async def test_the_page_lists_only_its_share_of_many_out_of_sync_lines(
    store: SqlStore,
) -> None:
    await many_lines(store, 12, 5)
    query = StatusQuery(store=store)
    app = web.Application()
    StatusPageRoutes(query, clock=lambda: NOW, max_lines=7, max_portals=5).install(app)
    async with TestClient(TestServer(app)) as test_client:
        html = await (await test_client.get("/")).text()
    assert html.count('<tr class="line"') == 7
    assert "7 of 30 out-of-sync lines shown" in html
    assert "5 of 12 portals shown" in html
    assert "12 portals, 60 lines" in html


async def test_portals_come_in_pages_registered_or_with_lines(
    client: TestClient[web.Request, web.Application], store: SqlStore
) -> None:
    await many_lines(store, 7, 3)  # p00.test … p06.test, with lines
    swept_at, called_at = (
        datetime(2026, 11, 30, 12, tzinfo=UTC),
        datetime(2026, 11, 30, 13, tzinfo=UTC),
    )
    async with store.unit_of_work() as uow:
        for domain, enabled in (("p03.test", True), ("p03a.test", False), ("zz.test", True)):
            webhook = SecretStr(f"https://{domain}/rest/1/{CANARY}/")
            await uow.portals.add(
                PortalRecord(domain=domain, auth="webhook", webhook_url=webhook, enabled=enabled)
            )
        # Known only by a sweep, only by a callback, and a portal with lines and both.
        await uow.schedule.note_swept("p05a.test", swept_at)
        await uow.callbacks.note_portal("p01a.test", called_at)
        await uow.schedule.note_swept("p02.test", swept_at)
        await uow.callbacks.note_portal("p02.test", called_at)
        await uow.commit()
    whole = await (await client.get("/v1/portals")).json()
    assert whole["count"] == 11
    assert whole["next"] is None
    assert CANARY not in json.dumps(whole)
    seen: list[dict[str, Any]] = []
    url: str | None = "/v1/portals?limit=2"
    pages = 0
    while url is not None:
        body = await (await client.get(url)).json()
        assert body["count"] == len(body["portals"]) <= 2
        seen += body["portals"]
        url = body["next"]
        assert url is None or "limit=2" in url
        pages += 1
    assert seen == whole["portals"]  # every portal once, in the same order
    assert pages == 6
    by_domain = {p["portal"]: p for p in seen}
    assert list(by_domain) == sorted(by_domain)
    assert (by_domain["p03.test"]["registered"], by_domain["p03.test"]["lines"]) == (True, 3)
    assert by_domain["p03a.test"] | {"verdicts": None} == {
        "portal": "p03a.test",
        "lines": 0,
        "out_of_sync": 0,
        "verdicts": None,
        "registered": True,
        "enabled": False,
        "auth": "webhook",
        "last_sweep": None,
        "last_callback": None,
        "reauthorization": None,
    }
    assert (by_domain["p04.test"]["registered"], by_domain["p04.test"]["enabled"]) == (False, None)
    times = {d: (p["last_sweep"], p["last_callback"]) for d, p in by_domain.items()}
    assert times["p05a.test"] == ("2026-11-30T12:00:00Z", None)
    assert times["p01a.test"] == (None, "2026-11-30T13:00:00Z")
    assert times["p02.test"] == ("2026-11-30T12:00:00Z", "2026-11-30T13:00:00Z")
    assert (by_domain["p05a.test"]["registered"], by_domain["p05a.test"]["lines"]) == (False, 0)
    assert by_domain["p04.test"]["verdicts"] == {"config_drift": 2, "in_sync": 1}


async def mark_lost(store: SqlStore, portal: str) -> None:
    """An OAuth portal whose pair was lost in flight (as a refresher's invalid_grant marks it)."""
    async with store.unit_of_work() as uow:
        await uow.tokens.put(
            portal,
            access_token=SecretStr(CANARY + "a"),
            refresh_token=SecretStr(CANARY + "r"),
            expires_at=None,
        )
        await uow.tokens.require_reauth(
            portal, reason="refresh_lost", detail="the pair was lost in flight <b>"
        )
        await uow.commit()


async def test_portals_api_and_page_show_a_portal_that_needs_authorising_again(
    client: TestClient[web.Request, web.Application], store: SqlStore
) -> None:
    await fill(store)
    await mark_lost(store, "alpha.test")
    body = await (await client.get("/v1/portals")).json()
    marks = {p["portal"]: p["reauthorization"] for p in body["portals"]}
    assert marks["beta.test"] is None
    assert marks["alpha.test"]["reason"] == "refresh_lost"
    assert "sipline dlq replay --reason reauthorization_required" in marks["alpha.test"]["action"]
    html = await (await client.get("/")).text()
    section = html[html.index('<section id="reauthorization"') :]
    section = section[: section.index("</section>")]
    assert "Portals to authorise again" in section
    assert "alpha.test" in section
    assert "refresh_lost" in section
    assert "&lt;b&gt;" in section  # escaped
    assert CANARY not in html + json.dumps(body)
    async with store.unit_of_work() as uow:  # installed again: the mark goes
        await uow.tokens.put(
            "alpha.test",
            access_token=SecretStr("new-a"),
            refresh_token=SecretStr("new-r"),
            expires_at=None,
        )
        await uow.commit()
    assert 'id="reauthorization"' not in await (await client.get("/")).text()
