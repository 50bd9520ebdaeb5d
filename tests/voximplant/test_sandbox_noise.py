"""The sandbox account's random fault shares and stalls (the background noise of a run)."""

from __future__ import annotations

import time

import aiohttp
import pytest

from worker.sandbox.voximplant import SandboxAccount
from worker.sandbox.voximplant.faults import FaultInjector


def test_shares_fault_about_their_share_and_the_queue_goes_first() -> None:
    faults = FaultInjector(seed=7)
    faults.configure({"shares": {"status": 0.1, "html": 0.1, "drop": 0.1, "api_error": 0.1}})
    faults.configure({"kind": "status", "status": 503, "times": 1})
    first = faults.take()
    assert first is not None
    assert first.status == 503
    kinds = [f.kind if (f := faults.take()) else None for _ in range(4000)]
    share = 1 - kinds.count(None) / len(kinds)
    assert 0.35 < share < 0.45
    assert {k for k in kinds if k} == {"status", "html", "drop", "api_error"}
    faults.clear()
    assert faults.take() is None


@pytest.mark.parametrize(
    "spec",
    [
        {"shares": {"teleport": 0.1}},
        {"shares": {"status": 0.7, "html": 0.7}},
        {"shares": {"status": -0.1}},
        {"stall": 1.5},
        {"stall_seconds": -1},
    ],
)
def test_bad_noise_is_refused(spec: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"shares|stall"):
        FaultInjector().configure(spec)


async def test_a_stalled_request_is_held_then_served(
    session: aiohttp.ClientSession, account: SandboxAccount
) -> None:
    async with session.post(
        f"{account.admin_url}faults", json={"stall": 1.0, "stall_seconds": 0.3}
    ) as response:
        assert response.status == 200
    started = time.monotonic()
    async with session.post(account.api_url + "GetSipRegistrations") as response:
        assert response.status == 200
        body = await response.json()
    assert time.monotonic() - started >= 0.3
    assert body["error"]["code"] != 0  # no token: served as usual, refused by the API
    assert account.faults.stalled == 1
