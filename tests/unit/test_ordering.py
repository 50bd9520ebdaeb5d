"""Per-key locks: arrival order per key, concurrency across keys, nothing left behind."""

from __future__ import annotations

import asyncio

import pytest

from worker.runtime.ordering import KeyedLocks


async def test_one_key_runs_in_arrival_order_and_keys_run_concurrently() -> None:
    locks = KeyedLocks()
    order: list[tuple[str, int]] = []
    running: dict[str, int] = {"a": 0, "b": 0}
    peak = {"a": 0, "b": 0, "both": 0}

    async def work(key: str, n: int) -> None:
        async with locks.hold(key):
            running[key] += 1
            peak[key] = max(peak[key], running[key])
            peak["both"] = max(peak["both"], running["a"] + running["b"])
            await asyncio.sleep(0.001)
            order.append((key, n))
            running[key] -= 1

    await asyncio.gather(*(work(k, n) for n in range(20) for k in ("a", "b")))
    assert [n for k, n in order if k == "a"] == list(range(20))
    assert [n for k, n in order if k == "b"] == list(range(20))
    assert peak["a"] == peak["b"] == 1
    assert peak["both"] == 2
    assert len(locks) == 0


async def test_a_cancelled_waiter_leaves_nothing_behind() -> None:
    locks = KeyedLocks()
    async with locks.hold("k"):
        waiter = asyncio.create_task(locks.hold("k").__aenter__())
        await asyncio.sleep(0)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
    assert len(locks) == 0


async def test_an_error_in_the_block_releases_the_key() -> None:
    locks = KeyedLocks()
    with pytest.raises(RuntimeError):
        async with locks.hold("k"):
            raise RuntimeError("boom")
    assert len(locks) == 0
    async with locks.hold("k"):
        pass


async def test_a_waiter_cancelled_after_its_turn_came_passes_the_key_on() -> None:
    locks = KeyedLocks()
    entered: list[str] = []

    async def work(name: str) -> None:
        async with locks.hold("k"):
            entered.append(name)

    holder = locks.hold("k")
    await holder.__aenter__()
    first = asyncio.create_task(work("first"))
    second = asyncio.create_task(work("second"))
    await asyncio.sleep(0)
    await holder.__aexit__(None, None, None)  # the key is handed to "first" ...
    first.cancel()  # ... which is cancelled before it runs
    await asyncio.gather(first, second, return_exceptions=True)
    assert entered == ["second"]
    assert len(locks) == 0
