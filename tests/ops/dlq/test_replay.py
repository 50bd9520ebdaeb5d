"""replay against the real broker: what a copy looks like, the cap, dry runs, pacing, and
interruptions (an injected failure, a cancelled task, a killed process)."""

from __future__ import annotations

import asyncio
import signal
import sys
import time

from aio_pika import Message

from tests.ops.dlq.conftest import DlqEnv, cli_env
from worker.ops.dlq import operations
from worker.ops.dlq.filters import Filter
from worker.ops.dlq.replay import Replayer
from worker.ops.dlq.sinks import ConfirmedExchange
from worker.ops.dlq.store import DeadLetterSession
from worker.runtime.headers import BROKER_HEADERS, FAILURE_HEADERS, REPLAY_COUNT


class FailAfter:
    """A real confirmed exchange that breaks after ``n`` publishes, as a dropped link would."""

    def __init__(self, inner: ConfirmedExchange, n: int) -> None:
        self._inner = inner
        self._left = n

    async def publish(self, message: Message, *, routing_key: str) -> None:
        if self._left == 0:
            raise ConnectionError("link dropped (injected)")
        self._left -= 1
        await self._inner.publish(message, routing_key=routing_key)


async def ids_in(env: DlqEnv, queue: str) -> list[str]:
    return [str(m.message_id) for m in await env.peek_all(queue)]


async def test_replay_puts_clean_copies_back_and_records_each(env: DlqEnv) -> None:
    first = await env.dead_letter(extra_headers={"x-tenant": "acme"})
    again = await env.transient_dead_letter(extra_headers={REPLAY_COUNT: 1})
    poison = await env.poison("line.delete")
    before = {str(m.message_id): m.body for m in await env.peek_all(env.names.dead_letter_queue)}

    async with env.open() as broker:
        report = await operations.replay(broker, Filter())

    assert report.error is None
    assert not report.refused
    assert {letter.id for letter in report.replayed} == {first, again, poison}
    await env.wait_depth(env.names.dead_letter_queue, 0)
    await env.wait_depth(env.names.commands_queue, 3)
    copies = {str(m.message_id): m for m in await env.take_all(env.names.commands_queue)}
    assert set(copies) == {first, again, poison}
    for message_id, copy in copies.items():
        assert copy.body == before[message_id]
        assert copy.content_type == "application/cloudevents+json"
        stripped = set(copy.headers) & (FAILURE_HEADERS | BROKER_HEADERS - {"x-delivery-count"})
        assert not stripped, stripped
    assert copies[first].routing_key == "line.create"
    assert copies[first].headers["x-tenant"] == "acme"
    assert copies[first].correlation_id == f"corr-{first}"
    assert copies[first].headers[REPLAY_COUNT] == 1
    assert copies[again].headers[REPLAY_COUNT] == 2
    assert copies[poison].routing_key == "line.delete"
    assert copies[poison].headers[REPLAY_COUNT] == 1

    events = await env.events(3)
    assert {e["type"] for e in events} == {"command.replayed"}
    by_cause = {e["causationid"]: e for e in events}
    assert set(by_cause) == {first, again, poison}
    assert by_cause[first]["correlationid"] == first
    assert by_cause[first]["portal"] == "example.bitrix24.ru"
    assert by_cause[again]["data"]["replay_count"] == 2
    assert by_cause[again]["data"]["dead_letter_reason"] == "retries_exhausted"
    assert by_cause[poison]["data"]["dead_letter_reason"] == "delivery_limit"
    assert by_cause[first]["data"]["first_failure"] is not None


async def test_the_cap_refuses_and_leaves_the_message(env: DlqEnv) -> None:
    capped = await env.dead_letter(extra_headers={REPLAY_COUNT: 3})
    last_chance = await env.dead_letter(extra_headers={REPLAY_COUNT: 2})
    async with env.open() as broker:
        report = await operations.replay(broker, Filter(), max_replays=3)
    assert [letter.id for letter in report.refused] == [capped]
    assert [letter.id for letter in report.replayed] == [last_chance]
    await env.wait_depth(env.names.dead_letter_queue, 1)
    assert await ids_in(env, env.names.dead_letter_queue) == [capped]
    copies = await env.take_all(env.names.commands_queue)
    assert [m.headers[REPLAY_COUNT] for m in copies] == [3]


async def test_dry_run_changes_nothing(env: DlqEnv) -> None:
    ids = {await env.dead_letter(), await env.transient_dead_letter()}
    async with env.open() as broker:
        report = await operations.replay(broker, Filter(), dry_run=True)
    assert report.dry_run
    assert {letter.id for letter in report.replayed} == ids
    await env.wait_depth(env.names.dead_letter_queue, 2)
    assert set(await ids_in(env, env.names.dead_letter_queue)) == ids
    assert await env.depth(env.names.commands_queue) == 0
    assert await env.events_tap.get(no_ack=True, fail=False) is None


async def test_filters_and_limit_select_what_is_replayed(env: DlqEnv) -> None:
    keep = await env.transient_dead_letter(type_="line.delete")
    chosen = [await env.dead_letter() for _ in range(3)]
    async with env.open() as broker:
        report = await operations.replay(broker, Filter(types=frozenset({"line.create"})), limit=2)
    assert len(report.replayed) == 2
    await env.wait_depth(env.names.dead_letter_queue, 2)
    remaining = set(await ids_in(env, env.names.dead_letter_queue))
    assert keep in remaining
    assert len(remaining & set(chosen)) == 1


async def test_rate_paces_the_replay(env: DlqEnv) -> None:
    for _ in range(5):
        await env.dead_letter()
    started = time.monotonic()
    async with env.open() as broker:
        report = await operations.replay(broker, Filter(), rate=10)
    elapsed = time.monotonic() - started
    assert len(report.replayed) == 5
    # Five replays at 10/s need at least four intervals of 0.1 s; allow the clock some slack.
    assert elapsed >= 0.3, elapsed


async def test_a_failure_half_way_loses_and_duplicates_nothing(env: DlqEnv) -> None:
    ids = [await env.dead_letter() for _ in range(8)]
    async with (
        env.open() as broker,
        DeadLetterSession(channel=broker.channel, queue=broker.dead_letters) as session,
    ):
        held = await session.scan()
        replayer = Replayer(
            session=session,
            commands=FailAfter(ConfirmedExchange(exchange=broker.commands), 3),
            events=ConfirmedExchange(exchange=broker.events),
        )
        report = await replayer.run(held)
    assert report.error is not None
    assert "injected" in report.error
    assert len(report.replayed) == 3
    await env.wait_depth(env.names.dead_letter_queue, 5)
    in_dlq = await ids_in(env, env.names.dead_letter_queue)
    in_commands = await ids_in(env, env.names.commands_queue)
    assert sorted(in_dlq + in_commands) == sorted(ids)
    assert in_commands == [letter.id for letter in report.replayed]
    assert len(await env.events(3)) == 3


async def test_an_event_that_fails_stops_the_run_after_its_copy_moved(env: DlqEnv) -> None:
    ids = [await env.dead_letter() for _ in range(4)]
    async with (
        env.open() as broker,
        DeadLetterSession(channel=broker.channel, queue=broker.dead_letters) as session,
    ):
        held = await session.scan()
        replayer = Replayer(
            session=session,
            commands=ConfirmedExchange(exchange=broker.commands),
            events=FailAfter(ConfirmedExchange(exchange=broker.events), 1),
        )
        report = await replayer.run(held)
    assert report.error is not None
    await env.wait_depth(env.names.dead_letter_queue, 2)
    in_dlq = await ids_in(env, env.names.dead_letter_queue)
    in_commands = await ids_in(env, env.names.commands_queue)
    # The second copy was confirmed and its dead letter acked; only its event is missing.
    assert in_commands == ids[:2]
    assert sorted(in_dlq) == sorted(ids[2:])
    events = await env.events(1)
    assert [e["causationid"] for e in events] == ids[:1]


def check_interrupted(ids: list[str], in_dlq: list[str], in_commands: list[str]) -> None:
    """Nothing lost; nothing copied twice; at most the one in flight in both places."""
    assert set(in_dlq) | set(in_commands) == set(ids)
    assert len(in_commands) == len(set(in_commands))
    assert len(in_dlq) == len(set(in_dlq))
    assert len(set(in_dlq) & set(in_commands)) <= 1


async def test_a_cancelled_replay_loses_and_duplicates_nothing(env: DlqEnv) -> None:
    ids = [await env.dead_letter() for _ in range(12)]
    async with env.open() as broker:
        task = asyncio.create_task(operations.replay(broker, Filter(), rate=20))
        depth = 0

        async def progressed() -> bool:
            nonlocal depth
            depth = await env.depth(env.names.commands_queue)
            return depth >= 4

        deadline = asyncio.get_running_loop().time() + 20
        while not await progressed():
            assert asyncio.get_running_loop().time() < deadline, "replay made no progress"
            await asyncio.sleep(0.02)
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=20)
        assert task in done
        assert task.cancelled()
    await env.settle(len(ids))
    in_commands = await ids_in(env, env.names.commands_queue)
    in_dlq = await ids_in(env, env.names.dead_letter_queue)
    check_interrupted(ids, in_dlq, in_commands)
    assert 4 <= len(in_commands) < len(ids)
    events = await env.events(len(in_commands) - 1)
    assert not {e["causationid"] for e in events} & set(in_dlq)


async def test_a_killed_replay_process_loses_and_duplicates_nothing(env: DlqEnv) -> None:
    ids = [await env.dead_letter() for _ in range(15)]
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "worker.cli.main",
        "dlq",
        "replay",
        "--prefix",
        env.names.prefix,
        "--rate",
        "25",
        env=cli_env(),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        deadline = asyncio.get_running_loop().time() + 30
        while await env.depth(env.names.commands_queue) < 5:
            assert process.returncode is None, "replay ended before it was killed"
            assert asyncio.get_running_loop().time() < deadline, "replay made no progress"
            await asyncio.sleep(0.02)
    finally:
        process.send_signal(signal.SIGKILL)
        await asyncio.wait_for(process.wait(), 20)

    await env.settle(len(ids))
    in_commands = await ids_in(env, env.names.commands_queue)
    in_dlq = await ids_in(env, env.names.dead_letter_queue)
    check_interrupted(ids, in_dlq, in_commands)
    assert len(in_commands) < len(ids)
