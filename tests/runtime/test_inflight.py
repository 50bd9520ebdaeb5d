"""The one rule every stopping consumer follows (worker.runtime.inflight): calls under way
finish within the grace, the rest are cancelled and waited for, a second stop is at once."""

from __future__ import annotations

import asyncio
import time

import pytest

from worker.runtime.inflight import InFlight


def started(in_flight: InFlight, seconds: list[float]) -> list[asyncio.Task[None]]:
    async def work(delay: float) -> None:
        await asyncio.sleep(delay)

    tracked = in_flight.tracking(work)
    return [asyncio.ensure_future(tracked(s)) for s in seconds]


async def test_calls_are_counted_while_they_run() -> None:
    in_flight = InFlight()
    tasks = started(in_flight, [0.05, 0.05, 10])
    await asyncio.sleep(0)
    assert len(in_flight) == 3
    await asyncio.wait(tasks[:2])
    assert len(in_flight) == 1
    tasks[2].cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert len(in_flight) == 0


async def test_finish_waits_for_calls_within_the_grace_and_cuts_the_rest_short() -> None:
    in_flight = InFlight()
    quick, slow = started(in_flight, [0.05, 30])
    await asyncio.sleep(0)
    began = time.monotonic()
    assert await in_flight.finish(0.3) == 1
    assert 0.25 < time.monotonic() - began < 2
    assert quick.done()
    assert not quick.cancelled()
    assert slow.cancelled()
    assert len(in_flight) == 0


async def test_finish_with_nothing_under_way_returns_at_once() -> None:
    assert await InFlight().finish(30) == 0


async def test_finish_without_cancel_leaves_the_stragglers_to_their_owner() -> None:
    in_flight = InFlight()
    (slow,) = started(in_flight, [30])
    await asyncio.sleep(0)
    assert await in_flight.finish(0.05, cancel=False) == 1
    assert not slow.done()
    slow.cancel()
    await asyncio.gather(slow, return_exceptions=True)


async def test_a_cancelled_finish_cancels_every_call_at_once() -> None:
    in_flight = InFlight()
    calls = started(in_flight, [30, 30])
    await asyncio.sleep(0)
    finishing = asyncio.ensure_future(in_flight.finish(30))
    await asyncio.sleep(0.05)
    finishing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await finishing
    assert all(call.cancelled() for call in calls)
    assert len(in_flight) == 0
