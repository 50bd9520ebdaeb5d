"""The status page of a real worker, in headless Chromium, as a person sees it.

A worker (sandbox portal and account, the real broker, an SQLite store) makes lines in
three verdicts, dead-letters a malformed command and sweeps the portal; the page is then
opened at a laptop's and a phone's size: what is read first, what is shown of each line,
whether anything runs off the side of the phone. The screenshots stay in the test's tmp dir.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from pydantic import SecretStr

from tests.browser import LAPTOP, PHONE, browser, chromium_path
from tests.callbacks.stack import SALT
from tests.e2e.conftest import PORTAL, Stack, e2e_sandbox, e2e_settings, serving_stack
from worker.adapters.store import open_store
from worker.http.callbacks import PATH
from worker.observability.metrics import Metrics
from worker.settings import Settings

pytestmark = [
    pytest.mark.skipif(chromium_path() is None, reason="chromium is not installed"),
    pytest.mark.timeout(120),
]


@dataclass
class Served:
    stack: Stack
    url: str


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    settings = Settings(data_dir=tmp_path / "data")
    async with (
        open_store(settings) as store,
        e2e_sandbox(tmp_path) as sandbox,
        serving_stack(
            sandbox,
            e2e_settings(
                "page",
                sandbox,
                metrics_port=0,
                metrics_host="127.0.0.1",
                data_dir=tmp_path / "data",
                voximplant_callback_salt=SecretStr(SALT),
                voximplant_api_key=SecretStr(sandbox.account.api_key),
            ),
            tap_dead_letters=False,
            metrics=Metrics(),
            store=store,
        ) as stack,
    ):
        assert stack.app.http_url is not None
        # the account reports the failing registration to the worker, as Voximplant does
        sandbox.account.set_callback(stack.app.http_url + PATH, SALT)
        yield Served(stack, stack.app.http_url)


async def lines_api(url: str) -> list[dict[str, Any]]:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{url}/v1/lines") as response:
            body: dict[str, Any] = await response.json()
    lines: list[dict[str, Any]] = body["lines"]
    return lines


async def until_projected(url: str, wanted: dict[str, str]) -> None:
    """Wait until the API shows each title with its verdict (the projection caught up)."""
    async with asyncio.timeout(30):
        while True:
            seen = {x["title"]: x["verdict"] for x in await lines_api(url)}
            if all(seen.get(title) == verdict for title, verdict in wanted.items()):
                return
            await asyncio.sleep(0.2)


async def until_text(url: str, texts: list[str]) -> None:
    """Wait until ``url`` answers with every one of ``texts`` (state the server refreshes
    in the background: the dead-letter summary, the gauge)."""
    async with aiohttp.ClientSession() as session, asyncio.timeout(30):
        while True:
            async with session.get(url) as response:
                body = await response.text()
            if all(text in body for text in texts):
                return
            await asyncio.sleep(0.2)


async def make_lines(s: Stack) -> None:
    await s.outcome((await s.create("front-desk"))["command_id"], "line.reconciled")
    failing = await s.create("warehouse", password="wrong-one")
    await s.outcome(failing["command_id"], "line.reconciled")
    branch = await s.create("branch")
    await s.outcome(branch["command_id"], "line.reconciled")
    s.sandbox.account.diverge(branch["reg_id"], proxy="drifted.example.net")
    drift = await s.send("line.reconcile", {"config_id": branch["config_id"]})
    await s.outcome(drift, "line.reconciled")
    await s.broker.publish_raw(b"this is not json", routing_key="line.create")
    sweep = await s.send("portal.sweep", {})
    await s.outcome(sweep, "portal.swept")


async def until_portal(url: str, **wanted: bool) -> None:
    """Wait until ``GET /v1/portals`` shows the portal's last sweep and last callback (the
    projection and the callback route wrote them)."""
    async with aiohttp.ClientSession() as session, asyncio.timeout(30):
        while True:
            async with session.get(f"{url}/v1/portals") as response:
                body: dict[str, Any] = await response.json()
            portal = next((p for p in body["portals"] if p["portal"] == PORTAL), {})
            if all((portal.get(key) is not None) == on for key, on in wanted.items()):
                return
            await asyncio.sleep(0.2)


VISIBLE = """(() => {
  const text = document.body.innerText;
  const rect = (sel) => { const e = document.querySelector(sel);
    return e ? e.getBoundingClientRect().toJSON() : null; };
  const cells = (label) => [...document.querySelectorAll(`td[data-label="${label}"]`)]
    .map((c) => c.innerText);
  return {
    text,
    heads: [...document.querySelectorAll('thead th')].map((th) => th.textContent),
    lastSweep: cells('Last sweep'),
    lastCallback: cells('Last callback'),
    viewport: window.innerWidth,
    scrollWidth: document.documentElement.scrollWidth,
    firstLine: rect('tr.line'),
    finding: rect('tr.line td.findings li'),
    headVisible: (() => { const h = document.querySelector('thead');
      const r = h.getBoundingClientRect(); return r.right > 0 && r.bottom > 0; })(),
  };
})()"""


async def test_status_page_shows_out_of_sync_lines_first_on_laptop_and_phone(
    served: Served, tmp_path: Path
) -> None:
    await make_lines(served.stack)
    await until_projected(
        served.url,
        {"front-desk": "in_sync", "warehouse": "registration_failed", "branch": "config_drift"},
    )
    await until_text(served.url + "/", ["not_json"])
    await until_portal(served.url, last_sweep=True, last_callback=True)
    async with browser(tmp_path / "chromium-profile") as page:
        await page.open(served.url + "/", LAPTOP)
        laptop = await page.evaluate(VISIBLE)
        await page.screenshot(tmp_path / "status-laptop.png")
        await page.open(served.url + "/", PHONE)
        phone = await page.evaluate(VISIBLE)
        await page.screenshot(tmp_path / "status-phone.png")

    for seen in (laptop, phone):
        text: str = seen["text"]
        out_of_sync = text.index("Out of sync")
        dead = text.index("Dead letters")
        # the failing and the drifting line come first, worst first, with their findings
        assert out_of_sync < text.index("warehouse") < text.index("branch") < dead
        assert "registration_failed" in text[out_of_sync:dead]
        assert "config_drift" in text[out_of_sync:dead]
        assert "drifted.example.net" in text[out_of_sync:dead]  # the drift's finding
        assert "front-desk" not in text[:dead]  # in sync: counted, not listed as a problem
        assert "not_json" in text[dead:]  # the malformed command, by reason
        assert "no sweep reported yet" not in text
        assert "last sweep:" in text
        assert "in_sync: 1" in text
        # the portal's last sweep and last callback, each a time a person can read
        assert len(seen["lastSweep"]) == len(seen["lastCallback"]) == 1
        for cell in (seen["lastSweep"][0], seen["lastCallback"][0]):
            assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", cell), cell
    assert laptop["headVisible"]
    assert {"Last sweep", "Last callback"} <= set(laptop["heads"])
    # the phone: nothing runs off the side; the table became cards without a header row
    assert phone["viewport"] == PHONE.width
    assert phone["scrollWidth"] <= PHONE.width
    assert not phone["headVisible"]
    assert phone["firstLine"]["right"] <= PHONE.width
    assert phone["finding"]["right"] <= PHONE.width
    for name in ("status-laptop.png", "status-phone.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the same counts for Prometheus (refreshed at most every 5 s)
    wanted = [
        f'sipline_lines{{portal="{PORTAL}",verdict="{verdict}"}} 1.0'
        for verdict in ("in_sync", "registration_failed", "config_drift")
    ]
    await until_text(served.url + "/metrics", wanted)
