"""Line projection throughput into SQLite and PostgreSQL: events applied per second.

Each event is a ``line.reconciled`` (or ``line.created``) for one of 1,000 lines, applied
through the store's port exactly as a projection consumer would: the applied-event marker,
the row lock, the row update. Two modes side by side on each backend: one unit of work
(transaction) per event, the worst case of a consumer that commits after every event, and
one per batch of 100 (what a consumer committing per fetched batch gets).

    .venv/bin/python -m benchmarks.store_projection [--events 5000] [--batch 100]
        [--postgres postgresql://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pydantic import SecretStr

from benchmarks._store import drop_schema
from worker.adapters.store import open_store
from worker.settings import Settings
from worker.store import LineChange

VERDICTS = ["in_sync", "config_drift", "registration_failed", "in_sync", "status_mismatch"]


def events(count: int) -> list[LineChange]:
    start = datetime(2026, 11, 30, tzinfo=UTC)
    out = []
    for n in range(count):
        config_id = n % 1000
        out.append(
            LineChange(
                event_id=str(uuid.uuid4()),
                occurred_at=start + timedelta(milliseconds=n),
                portal=f"p{config_id % 20}.bitrix24.test",
                config_id=config_id,
                kind="created" if n < 1000 else "reconciled",
                command_id=f"cmd-{n}",
                title=f"line {config_id}" if n < 1000 else None,
                line_type="cloud" if n < 1000 else None,
                verdict=None if n < 1000 else VERDICTS[n % len(VERDICTS)],
                findings=[] if n % 5 == 0 else ["registration differs"],
            )
        )
    return out


async def run(settings: Settings, changes: list[LineChange], batch: int) -> float:
    async with open_store(settings) as store:
        started = time.perf_counter()
        for at in range(0, len(changes), batch):
            async with store.unit_of_work() as uow:
                for change in changes[at : at + batch]:
                    await uow.lines.apply(change)
                await uow.commit()
        elapsed = time.perf_counter() - started
        async with store.unit_of_work(readonly=True) as uow:
            assert sum((await uow.lines.counts()).values()) == min(len(changes), 1000)
    return len(changes) / elapsed


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    changes = events(args.events)
    print(f"{args.events} events over 1,000 lines; events/s (higher is better)")
    print(f"{'backend':<12}{'1 per txn':>12}{f'{args.batch} per txn':>14}{'ratio':>8}")
    with tempfile.TemporaryDirectory() as tmp:
        backends = {
            "sqlite": lambda tag: Settings(store_url=SecretStr(f"sqlite:///{Path(tmp) / tag}.db"))
        }
        backends["postgresql"] = lambda tag: Settings(
            store_url=SecretStr(args.postgres), store_schema=f"bench_{tag}"
        )
        for name, make in backends.items():
            rates = []
            for mode, batch in (("single", 1), ("batch", args.batch)):
                tag = f"{mode}_{uuid.uuid4().hex[:8]}"
                settings = make(tag)
                try:
                    rates.append(await run(settings, changes, batch))
                finally:
                    if name == "postgresql":
                        await drop_schema(args.postgres, f"bench_{tag}")
            print(f"{name:<12}{rates[0]:>12,.0f}{rates[1]:>14,.0f}{rates[1] / rates[0]:>8.1f}")


if __name__ == "__main__":
    asyncio.run(main())
