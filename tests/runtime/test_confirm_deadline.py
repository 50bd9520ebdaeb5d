"""An outcome's publishes have one deadline, on a timer shared by every delivery: in time,
nothing happens; past it, the delivery goes back to the queue; a shutdown's cancellation
stays a cancellation. The last test runs against the real broker, through a proxy that
stops passing what the broker sends (so no confirm ever arrives)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aio_pika
import pytest

from tests.amqp_helpers import broker, command, unique_prefix, wait_for
from tests.lifecycle.processes import proxy
from tests.runtime.conftest import runtime_settings
from tests.runtime.fakes import ScriptedHandler
from worker.adapters.amqp.publisher import Publisher
from worker.runtime.deadline import SharedDeadline
from worker.runtime.policy import RetryPolicy
from worker.runtime.processor import Processor, ProcessorConfig
from worker.runtime.wiring import topology_spec


async def _guarded(deadline: SharedDeadline, work: asyncio.Future[Any]) -> str:
    """``work`` awaited under ``deadline``, as the finisher does it."""
    task = asyncio.current_task()
    assert task is not None
    deadline.watch(task)
    try:
        await work
    except asyncio.CancelledError:
        if deadline.expired(task):
            return "timed out"
        raise
    finally:
        deadline.release(task)
    return "done"


async def test_work_done_in_time_is_left_alone_and_the_timer_stops() -> None:
    deadline = SharedDeadline(0.3, resolution=0.05)
    work: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(_guarded(deadline, work))
    await asyncio.sleep(0.1)
    assert deadline.armed
    assert len(deadline) == 1
    work.set_result(None)
    assert await task == "done"
    assert len(deadline) == 0
    await asyncio.sleep(0.12)  # the next check finds nothing to watch and does not re-arm
    assert not deadline.armed


async def test_work_past_its_deadline_times_out_within_one_resolution() -> None:
    deadline = SharedDeadline(0.3, resolution=0.1)
    never: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    started = time.monotonic()
    assert await _guarded(deadline, never) == "timed out"
    assert 0.3 <= time.monotonic() - started < 0.3 + 0.1 + 0.2
    assert len(deadline) == 0


async def test_many_tasks_share_one_timer_and_each_gets_its_own_deadline() -> None:
    deadline = SharedDeadline(0.2, resolution=0.05)
    loop = asyncio.get_running_loop()
    quick = [loop.create_future() for _ in range(500)]
    stuck = [loop.create_future() for _ in range(500)]
    tasks = [asyncio.create_task(_guarded(deadline, f)) for f in quick + stuck]
    await asyncio.sleep(0.05)
    assert len(deadline) == 1000
    for future in quick:
        future.set_result(None)
    results = await asyncio.gather(*tasks)
    assert results == ["done"] * 500 + ["timed out"] * 500


async def test_a_shutdown_cancellation_is_not_taken_for_the_deadline() -> None:
    deadline = SharedDeadline(5.0, resolution=0.05)
    never: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(_guarded(deadline, never))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(deadline) == 0


async def test_a_shutdown_that_comes_with_the_deadline_is_not_swallowed() -> None:
    deadline = SharedDeadline(0.1, resolution=0.05)

    async def publish() -> None:
        # the shutdown's cancellation lands here and is held back a moment (as a publish
        # rolling back would): meanwhile the deadline passes and cancels the task again
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            await asyncio.sleep(0.3)
            raise

    async def section() -> str:
        return await _guarded(deadline, asyncio.ensure_future(publish()))

    task = asyncio.create_task(section())
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def test_a_deadline_is_positive() -> None:
    with pytest.raises(ValueError):
        SharedDeadline(0)
    with pytest.raises(ValueError):
        SharedDeadline(1.0, resolution=0)


class Outcomes:
    def __init__(self) -> None:
        self.seen: list[str] = []

    def outcome(self, command_type: str, outcome: str, seconds: float) -> None:
        self.seen.append(outcome)

    def published(self, event_type: str, verdict: str | None) -> None:
        return None

    def dead_lettered(self, reason: str) -> None:
        return None


async def test_an_outcome_never_confirmed_returns_the_command_to_the_queue() -> None:
    """The broker stops answering after the delivery: the event is published but its
    confirm never comes. Past the deadline the delivery is returned (nacked), not held for
    ever; once the broker is heard again, the command is back in its queue."""
    settings = runtime_settings(unique_prefix("confirm"))
    spec = topology_spec(settings)
    outcomes = Outcomes()
    async with broker(settings.topology_prefix, spec) as b, proxy() as silent:
        connection = await aio_pika.connect(silent.url())
        async with connection:
            channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
            processor = Processor(
                publisher=Publisher(
                    events=await channel.get_exchange(spec.names.events_exchange),
                    delay=await channel.get_exchange(spec.names.delay_exchange),
                    dead_letters=await channel.get_exchange(spec.names.dead_letter_exchange),
                ),
                handlers={"line.reconcile": ScriptedHandler()},
                policy=RetryPolicy(delays=(0.2,), max_attempts=3),
                topology=spec,
                config=ProcessorConfig(
                    max_body_bytes=65536,
                    version="test",
                    commands_exchange=spec.names.commands_exchange,
                    confirm_timeout=0.5,
                ),
                observer=outcomes,
            )
            await b.publish(command("line.reconcile", {"config_id": 4}, id_="unconfirmed"))
            queue = await (await connection.channel()).get_queue(spec.names.commands_queue)
            delivery = await queue.get(timeout=10)

            silent.hold()
            started = time.monotonic()
            await asyncio.wait_for(processor(delivery), timeout=10)
            elapsed = time.monotonic() - started

            assert outcomes.seen == ["requeued"]
            assert 0.5 <= elapsed < 0.5 + 0.5 + 1.0, elapsed
            silent.resume()
            await b.wait_depth(
                spec.names.commands_queue, 1, limit=10, what="the command back in its queue"
            )
            await wait_for(lambda: len(b.events.messages) == 1, what="the event, published once")
