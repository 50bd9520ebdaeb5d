"""The process-wide budget lets deliveries in strictly in arrival order."""

from __future__ import annotations

import asyncio

from worker.fleet.consumers import FifoGate


async def test_waiters_enter_in_arrival_order_and_never_more_than_the_size() -> None:
    gate = FifoGate(2)
    entered: list[int] = []
    inside = 0
    most = 0

    async def one(n: int) -> None:
        nonlocal inside, most
        await gate.enter()
        inside += 1
        most = max(most, inside)
        entered.append(n)
        await asyncio.sleep(0.001 * (n % 3))
        inside -= 1
        gate.leave()

    await asyncio.gather(*(one(n) for n in range(40)))
    assert entered == list(range(40))
    assert most == 2


async def test_a_cancelled_waiter_does_not_lose_a_slot() -> None:
    gate = FifoGate(1)
    await gate.enter()
    waiting = asyncio.create_task(gate.enter())
    await asyncio.sleep(0)
    waiting.cancel()
    await asyncio.gather(waiting, return_exceptions=True)
    gate.leave()
    async with asyncio.timeout(1):
        await gate.enter()  # the slot came back
