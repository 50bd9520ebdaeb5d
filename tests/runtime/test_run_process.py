"""run_process: the loop ends within its grace even when a task left behind will not stop."""

from __future__ import annotations

import asyncio
import time

from worker.runtime.signals import run_process


async def _stubborn(started: asyncio.Event) -> None:
    """Swallows its first cancellation and waits again, like a connection closing while the
    thread that would answer it has stopped."""
    started.set()
    try:
        await asyncio.Event().wait()
    finally:
        await asyncio.Event().wait()


def test_a_task_that_swallows_its_cancellation_does_not_keep_the_loop() -> None:
    kept: list[asyncio.Task[None]] = []

    async def main() -> None:
        started = asyncio.Event()
        kept.append(asyncio.get_running_loop().create_task(_stubborn(started)))
        await started.wait()

    began = time.monotonic()
    run_process(main(), leftover_grace=1.0)
    assert time.monotonic() - began < 3


def test_tasks_left_behind_are_cancelled_at_once() -> None:
    ended: list[str] = []
    kept: list[asyncio.Task[None]] = []

    async def leftover() -> None:
        try:
            await asyncio.sleep(60)
        finally:
            ended.append("cancelled")

    async def failing() -> None:
        raise RuntimeError("reported by its owner, not by the loop")

    async def main() -> None:
        loop = asyncio.get_running_loop()
        kept.extend([loop.create_task(leftover()), loop.create_task(failing())])
        await asyncio.sleep(0)

    began = time.monotonic()
    run_process(main(), leftover_grace=5.0)
    assert time.monotonic() - began < 1
    assert ended == ["cancelled"]
