"""The line projection end to end: the event-log stream into SQLite and PostgreSQL.

Two figures per backend, each beside a baseline run the same way:

* throughput: ``--events`` contract events (``line.created`` then ``line.reconciled``s over
  1,000 lines of 20 portals) are put on a fresh event log; a :class:`Projector` catches up
  from offset 0. Baseline: a bare read of the same stream (no store), the ceiling.
* lag at ``--rate`` events/s for ``--seconds``: a projector follows the stream while events
  are published at that rate with their time set at publish; lag = commit time − event
  time, per event, reported as p50 / p99 / max. Baseline: a bare stream reader's delivery
  lag for the same publishes (what the broker alone costs).

    .venv/bin/python -m benchmarks.status_projection [--events 20000] [--rate 200]
        [--seconds 15] [--postgres postgresql://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import aio_pika
from aio_pika.abc import AbstractExchange, AbstractRobustConnection
from pydantic import SecretStr

from benchmarks._store import drop_store_schema
from contracts.events import (
    Bitrix24Side,
    Event,
    LineCreated,
    LineCreatedData,
    LineReconciled,
    LineReconciledData,
    Verdict,
    VoximplantSide,
)
from worker.adapters.amqp.topology import Names, TopologySpec, declare, delete_all
from worker.adapters.store import open_store
from worker.ops.events.reader import StreamReader
from worker.ops.events.record import LoggedEvent
from worker.projection import Batch, Projector
from worker.settings import Settings

AMQP = "amqp://guest:guest@127.0.0.1:5672/"
VERDICTS = [Verdict.IN_SYNC, Verdict.CONFIG_DRIFT, Verdict.IN_SYNC, Verdict.STATUS_MISMATCH]


def event(n: int, at: datetime | None = None) -> Event:
    config_id = n % 1000 + 1
    common = {
        "id": f"bench-{uuid.uuid4().hex}",
        "source": "urn:sipline:bench",
        "time": at or datetime.now(UTC),
        "portal": f"p{config_id % 20}.bitrix24.test",
        "causationid": f"cmd-{n}",
    }
    if n < 1000:
        return LineCreated(
            type="line.created",
            **common,  # type: ignore[arg-type]
            data=LineCreatedData(
                config_id=config_id,
                reg_id=config_id,
                title=f"line {config_id}",
                server="sip.example.com",
                login=f"u{config_id}",
                line_type="cloud",
                already_existed=False,
            ),
        )
    return LineReconciled(
        type="line.reconciled",
        **common,  # type: ignore[arg-type]
        data=LineReconciledData(
            config_id=config_id,
            reg_id=config_id,
            verdict=VERDICTS[n % len(VERDICTS)],
            findings=[] if n % 4 == 0 else ["the registrar differs"],
            bitrix24=Bitrix24Side(status_result="success"),
            voximplant=VoximplantSide(found=True, successful=True),
            attempts=1,
        ),
    )


@asynccontextmanager
async def event_log() -> AsyncIterator[tuple[AbstractRobustConnection, AbstractExchange, str]]:
    spec = TopologySpec(
        names=Names(f"bench-{uuid.uuid4().hex[:8]}"),
        delay_tiers=(1.0,),
        delivery_limit=5,
        events_max_bytes=500_000_000,
        events_max_age="1h",
    )
    connection = await aio_pika.connect_robust(AMQP)
    try:
        channel = await connection.channel()
        await declare(channel, spec)
        exchange = await channel.get_exchange(spec.names.events_exchange)
        try:
            yield connection, exchange, spec.names.events_log
        finally:
            await delete_all(channel, spec)
    finally:
        await connection.close()


async def publish(exchange: AbstractExchange, events: list[Event]) -> None:
    for chunk in range(0, len(events), 500):
        await asyncio.gather(
            *(
                exchange.publish(aio_pika.Message(e.wire_json()), routing_key=e.MESSAGE_TYPE)
                for e in events[chunk : chunk + 500]
            )
        )


async def bare_read(connection: AbstractRobustConnection, stream: str) -> float:
    started = time.perf_counter()
    count = 0
    async with StreamReader(connection=connection, queue=stream, prefetch=1000) as reader:
        async for record in reader:
            LoggedEvent.parse(record.offset, record.body)
            count += 1
    return count / (time.perf_counter() - started)


async def throughput(settings: Settings, count: int) -> tuple[float, float]:
    async with event_log() as (connection, exchange, stream):
        await publish(exchange, [event(n) for n in range(count)])
        baseline = await bare_read(connection, stream)
        async with open_store(settings) as store:
            projector = Projector(store=store, connection=connection, stream=stream)
            started = time.perf_counter()
            applied = await projector.catch_up()
            rate = applied / (time.perf_counter() - started)
            assert applied == count, (applied, count)
    return rate, baseline


async def paced(exchange: AbstractExchange, rate: float, seconds: float) -> int:
    """Publish at ``rate`` events/s (in 20 ms ticks), each timed at its publish."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    sent = 0
    while loop.time() - started < seconds:
        due = int((loop.time() - started) * rate)
        if due > sent:
            await publish(exchange, [event(1000 + n) for n in range(sent, due)])
            sent = due
        await asyncio.sleep(0.02)
    return sent


async def lag(settings: Settings, rate: float, seconds: float) -> tuple[list[float], list[float]]:
    """Lags (s): per committed batch, of its oldest event; per delivery, of a bare follower."""
    projected: list[float] = []
    delivered: list[float] = []
    events = 0
    async with event_log() as (connection, exchange, stream):
        await publish(exchange, [event(n) for n in range(1000)])  # the lines exist first
        async with open_store(settings) as store:
            await Projector(store=store, connection=connection, stream=stream).catch_up()

            progress = asyncio.Event()

            def on_batch(batch: Batch) -> None:
                nonlocal events
                events += batch.events
                progress.set()
                if batch.oldest_event is not None:
                    projected.append((batch.committed_at - batch.oldest_event).total_seconds())

            follower = Projector(
                store=store, connection=connection, stream=stream, on_batch=on_batch
            )
            task = asyncio.create_task(follower.run())
            bare = asyncio.create_task(_bare_follow(connection, stream, delivered))
            await asyncio.wait_for(follower.attached.wait(), 30)
            sent = await paced(exchange, rate, seconds)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(30):  # what is not in by then shows as missing
                    while events < sent:
                        progress.clear()
                        await progress.wait()
            for running in (task, bare):
                running.cancel()
            await asyncio.gather(task, bare, return_exceptions=True)
    return projected, delivered


async def _bare_follow(
    connection: AbstractRobustConnection, stream: str, delivered: list[float]
) -> None:
    async with StreamReader(connection=connection, queue=stream, start=1000, follow=True) as r:
        async for record in r:
            parsed = LoggedEvent.parse(record.offset, record.body)
            assert parsed.event is not None
            delivered.append((datetime.now(UTC) - parsed.event.time).total_seconds())


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def backends(tmp: str, postgres: str) -> dict[str, Callable[[], Settings]]:
    def sqlite() -> Settings:
        path = Path(tmp) / f"{uuid.uuid4().hex[:8]}.db"
        return Settings(store_url=SecretStr(f"sqlite:///{path}"))

    def pg() -> Settings:
        return Settings(store_url=SecretStr(postgres), store_schema=f"bench_{uuid.uuid4().hex[:8]}")

    return {"sqlite": sqlite, "postgresql": pg}


async def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        makers = backends(tmp, args.postgres)
        print(f"throughput: {args.events} events from the stream into the store (events/s)")
        print(f"{'backend':<12}{'projector':>12}{'bare read':>12}{'ratio':>8}")
        for name, make in makers.items():
            settings = make()
            try:
                rate, baseline = await throughput(settings, args.events)
            finally:
                await drop_store_schema(settings)
            print(f"{name:<12}{rate:>12,.0f}{baseline:>12,.0f}{rate / baseline:>8.2f}")
        print(
            f"\nlag at {args.rate:g} events/s for {args.seconds:g} s: commit time - event time"
            " of each batch's oldest event (s); bare: delivery - event time"
        )
        print(f"{'backend':<12}{'batches':>8}{'p50':>8}{'p99':>8}{'max':>8}{'bare p99':>10}")
        for name, make in makers.items():
            settings = make()
            try:
                projected, delivered = await lag(settings, args.rate, args.seconds)
            finally:
                await drop_store_schema(settings)
            print(
                f"{name:<12}{len(projected):>8}{statistics.median(projected):>8.3f}"
                f"{pct(projected, 0.99):>8.3f}{max(projected):>8.3f}"
                f"{pct(delivered, 0.99):>10.3f}"
            )


if __name__ == "__main__":
    asyncio.run(main())
