"""``voximplant.sip.get`` paged inside ``batch``: start, SORT/ORDER, total and next."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from worker.sandbox.portal import PortalOptions, SandboxPortal
from worker.sandbox.registrations import DEFAULT_PASSWORD, DEFAULT_SERVER, RegistrationStore

LINES = 120


async def _portal(shuffle: bool) -> SandboxPortal:
    options = PortalOptions(
        bucket_capacity=10_000,
        drain_per_second=10_000.0,
        cloud_pbx_limit=LINES,
        unordered_pages_shuffle=shuffle,
        seed=3,
    )
    portal = SandboxPortal(registrations=RegistrationStore(), options=options)
    for n in range(LINES):
        params = {"TITLE": f"l{n}", "SERVER": DEFAULT_SERVER, "LOGIN": str(n)}
        portal.lines.add({**params, "PASSWORD": DEFAULT_PASSWORD}, None)
    await portal.start()
    return portal


@pytest.fixture
async def portal() -> AsyncIterator[SandboxPortal]:
    started = await _portal(shuffle=False)
    yield started
    await started.stop()


@pytest.fixture
async def shuffling() -> AsyncIterator[SandboxPortal]:
    started = await _portal(shuffle=True)
    yield started
    await started.stop()


async def _call(session: aiohttp.ClientSession, url: str, body: dict[str, Any]) -> Any:
    async with session.post(url, json=body) as response:
        assert response.status == 200
        return await response.json()


async def test_pages_two_to_n_in_one_batch(
    portal: SandboxPortal, session: aiohttp.ClientSession
) -> None:
    hook = portal.webhook_url
    first = await _call(session, hook + "voximplant.sip.get", {"ORDER": {"ID": "ASC"}})
    assert (first["total"], first["next"], len(first["result"])) == (LINES, 50, 50)
    cmd = {f"p{start}": f"voximplant.sip.get?start={start}&ORDER[ID]=ASC" for start in (50, 100)}
    batch = (await _call(session, hook + "batch", {"halt": 0, "cmd": cmd}))["result"]
    assert batch["result_error"] == []
    assert batch["result_total"] == {"p50": LINES, "p100": LINES}
    assert batch["result_next"] == {"p50": 100}  # the last page has no next
    ids = [int(r["ID"]) for r in first["result"]]
    ids += [int(r["ID"]) for key in ("p50", "p100") for r in batch["result"][key]]
    assert ids == sorted(ids)
    assert len(set(ids)) == LINES
    assert portal.counters.requests == 2  # a batch is one request against the bucket
    assert portal.counters.batch_commands == 2


@pytest.mark.parametrize(
    "order",
    [
        {"SORT": "CONFIG_ID", "ORDER": "DESC"},
        {"ORDER": {"CONFIG_ID": "DESC"}},
        {"SORT": {"ID": "DESC"}},
    ],
)
async def test_sort_and_order_forms(
    portal: SandboxPortal, session: aiohttp.ClientSession, order: dict[str, Any]
) -> None:
    body = await _call(session, portal.webhook_url + "voximplant.sip.get", order)
    values = [int(r["CONFIG_ID"]) for r in body["result"]]
    assert values == sorted(values, reverse=True)


async def test_start_minus_one_and_a_key_filter(
    portal: SandboxPortal, session: aiohttp.ClientSession
) -> None:
    body = await _call(
        session,
        portal.webhook_url + "voximplant.sip.get",
        {"start": -1, "FILTER": {">ID": 60}, "ORDER": {"ID": "ASC"}},
    )
    assert "total" not in body
    assert "next" not in body
    assert [int(r["ID"]) for r in body["result"]] == list(range(61, 111))


async def test_only_unordered_pages_repeat_rows(
    shuffling: SandboxPortal, session: aiohttp.ClientSession
) -> None:
    async def collect(order: dict[str, Any]) -> list[int]:
        cmd = {
            f"p{start}": f"voximplant.sip.get?start={start}{order_query(order)}"
            for start in (0, 50, 100)
        }
        batch = (await _call(session, shuffling.webhook_url + "batch", {"cmd": cmd}))["result"]
        return [int(r["ID"]) for page in batch["result"].values() for r in page]

    def order_query(order: dict[str, Any]) -> str:
        return "".join(f"&ORDER[{k}]={v}" for k, v in order.get("ORDER", {}).items())

    ordered = await collect({"ORDER": {"ID": "ASC"}})
    assert sorted(ordered) == list(range(1, LINES + 1))
    repeats = 0
    for _ in range(3):
        unordered = await collect({})
        assert len(unordered) == LINES
        repeats += len(unordered) - len(set(unordered))
    assert repeats > 0  # without an order, pages overlap (and so miss rows)
