"""The status page's HTML from plain records: what comes first, what is escaped, what is cut."""

from __future__ import annotations

from datetime import UTC, datetime

from contracts.events import Verdict
from tests.projection.events import created, later, reconciled
from tests.status.fixtures import DRIFT_FINDING, FAILED_FINDING, fill, scenario
from worker.adapters.store import SqlStore
from worker.status.html import DeadLetterGroup, DeadLetterView, page
from worker.status.query import Selection, StatusQuery

NOW = datetime(2026, 11, 30, 11, 0, tzinfo=UTC)
LETTERS = DeadLetterView(
    depth=3, groups=[DeadLetterGroup("schema_violation", "line.create", 2)], sampled=3, as_of=NOW
)


async def test_out_of_sync_lines_come_first_with_findings_and_log_text_is_escaped(
    store: SqlStore,
) -> None:
    hostile = "<script>alert(1)</script>"
    await fill(
        store,
        [
            *scenario(),
            created("gamma.test", 9, hostile),
            reconciled("gamma.test", 9, Verdict.STATUS_MISMATCH, at=later(9), findings=[hostile]),
        ],
    )
    overview = await StatusQuery(store=store).overview(
        Selection(out_of_sync=True), every_portal=True
    )
    html = page(overview, dead_letters=LETTERS, now=NOW)
    assert hostile not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    attention = html.index("<h2>Out of sync</h2>")
    portals = html.index("<h2>Portals</h2>")
    for text in (FAILED_FINDING, DRIFT_FINDING, "warehouse", "office-main"):
        assert attention < html.index(text) < portals
    assert "reception" not in html  # in sync: counted, not listed
    assert html.index("warehouse") < html.index("office-main")  # worst verdict first
    assert html.index('data-portal="alpha.test"') < html.index('data-portal="gamma.test"')
    assert "schema_violation" in html
    assert 'id="dlq-depth">3<' in html
    assert "2026-11-30 10:08:00 UTC" in html  # the last sweep
    assert '<meta name="viewport"' in html


async def test_long_lists_are_cut_with_a_link_to_the_json(store: SqlStore) -> None:
    await fill(store)
    overview = await StatusQuery(store=store).overview(
        Selection(out_of_sync=True), every_portal=True
    )
    html = page(overview, dead_letters=None, now=NOW, max_lines=1, max_portals=1)
    assert "1 of 2 out-of-sync lines shown" in html
    assert 'href="/v1/lines?out_of_sync=1"' in html
    assert "1 of 2 portals shown" in html
    assert "Being looked at" in html


async def test_an_empty_store_says_all_is_well(store: SqlStore) -> None:
    overview = await StatusQuery(store=store).overview(
        Selection(out_of_sync=True), every_portal=True
    )
    html = page(overview, dead_letters=None, now=NOW)
    assert "Every checked line is in sync." in html
    assert "no sweep reported yet" in html
