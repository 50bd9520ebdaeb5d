"""The reader against the real broker without the worker: empty logs, big chunks, odd bodies."""

from __future__ import annotations

import asyncio
import io
import time

import pytest
from rich.console import Console

from tests.amqp_helpers import Broker
from tests.ops_events.conftest import log_of, publish_event, read_all
from worker.ops.events import EventLogMissing, LoggedEvent, StreamReader
from worker.ops.events.render import WARNING_MARK, TableRenderer, json_line


async def test_an_empty_log_reads_as_nothing(log_broker: Broker) -> None:
    async with StreamReader(
        connection=log_broker.connection, queue=log_of(log_broker), settle=0.3
    ) as reader:
        assert [r async for r in reader] == []
        assert reader.tail is None


async def test_a_missing_log_is_a_clear_error(log_broker: Broker) -> None:
    with pytest.raises(EventLogMissing, match="no-such"):
        async with StreamReader(connection=log_broker.connection, queue="no-such.events.log"):
            pass


async def test_events_published_in_bursts_are_all_read_once(log_broker: Broker) -> None:
    # concurrent publishes make multi-message chunks: the tail probe must see the whole last one
    for burst in range(3):
        await asyncio.gather(
            *(publish_event(log_broker, b'{"n": %d}' % (burst * 300 + i)) for i in range(300))
        )
    for prefetch in (1, 16, 1000):
        records = await read_all(log_broker, prefetch=prefetch)
        assert [r.offset for r in records] == list(range(900))
        assert sorted(int(r.body[6:-1]) for r in records) == list(range(900))
    last = await read_all(log_broker, start="last")
    assert last
    assert last[-1].offset == 899


async def test_next_and_offsets_past_the_end_end_at_once(log_broker: Broker) -> None:
    await publish_event(log_broker, b"{}")
    started = time.monotonic()
    assert await read_all(log_broker, start="next") == []
    assert await read_all(log_broker, start=1) == []
    assert time.monotonic() - started < 5


async def test_undecodable_events_are_shown_marked_and_passwords_never(
    log_broker: Broker,
) -> None:
    await publish_event(log_broker, b"\xff not json")
    await publish_event(log_broker, b'{"type": "line.created", "data": {"password": "hunter2"}}')
    await publish_event(log_broker, b'[1, {"password": "hunter2"}]')
    await publish_event(log_broker, b'{"type": "line.created", "password" : "hunter2" oops')
    records = [LoggedEvent.parse(r.offset, r.body) for r in await read_all(log_broker)]

    assert [r.valid for r in records] == [False] * 4
    assert [r.problem is not None for r in records] == [True] * 4
    assert records[1].type == "line.created"
    console = Console(record=True, width=250, file=io.StringIO())
    table = TableRenderer(console=console)
    for record in records:
        table.row(record)
        assert "hunter2" not in json_line(record)
        assert '"warning":"does not parse' in json_line(record)
    text = console.export_text()
    assert "hunter2" not in text
    assert text.count(WARNING_MARK) == 4


async def test_stopping_early_leaves_nothing_open(log_broker: Broker) -> None:
    for n in range(5):
        await publish_event(log_broker, b'{"n": %d}' % n)
    reader = StreamReader(connection=log_broker.connection, queue=log_of(log_broker))
    async with reader:
        async for record in reader:
            assert record.offset == 0
            break
    await reader.aclose()  # closing twice is safe
    assert await read_all(log_broker, start=4) == (await read_all(log_broker))[4:]
