"""Scenario 2: the RabbitMQ application stopped and started in the middle of a run.

Runs on a private RabbitMQ node of its own (never the shared broker on 5672). The worker
either recovers (robust connection) or exits non-zero within ``reconnect_timeout``; a
supervisor loop here restarts it if it exits, and counts. Publishing goes on during the
outage, retried until the broker confirms (counted). Nothing may be lost.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

import pytest

from tests.resilience.commands import mix, quiet
from tests.resilience.conftest import Run
from tests.resilience.processes import PrivateBroker, private_broker, until

OUTAGE = 7.0


async def _supervise(run: Run, done: Any, restarts: list[int]) -> None:
    """Restart the worker whenever it exits, as systemd or Kubernetes would."""
    while not done():
        code = run.worker.reap()
        if code is not None:
            restarts.append(code)
            run.worker.start()
        await asyncio.sleep(0.2)


async def _outage(broker: PrivateBroker) -> float:
    started = time.monotonic()
    await asyncio.to_thread(broker.stop_app)
    await asyncio.sleep(OUTAGE)
    await asyncio.to_thread(broker.start_app)
    return time.monotonic() - started


async def _sample(run: Run) -> str:
    """A few of the messages left in the command queue, for the failure message."""
    queue = await run.tap.channel.get_queue(run.tap.spec.names.commands_queue)
    found = []
    for _ in range(5):
        message = await queue.get(fail=False, no_ack=False)
        if message is None:
            break
        found.append((message.message_id, message.redelivered, dict(message.headers or {})))
        await message.nack(requeue=True)
    ids = [m[0] for m in found]
    done = [run.tap.ledger.completed([i]) for i in ids if i]
    return f"sample {found!r}; completed {done}; worker running {run.worker.running()}"


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_broker_stop_app_start_app_midway(make_run: Any, figures: dict[str, Any]) -> None:
    with private_broker() as broker:
        if isinstance(broker, str):
            pytest.skip(f"no private RabbitMQ node: {broker}")
        async with make_run("broker", lines=60, amqp_url=broker.url) as run:
            run: Run  # type: ignore[no-redef]
            commands = mix(run.sandbox.config_ids, total=1500, creates=150, deletes=50, tag="b")
            ids = [c["id"] for c in commands]
            first, second = commands[:900], commands[900:]
            run.worker.start()
            await run.worker.ready(run.session)
            started = time.monotonic()
            await run.tap.publish_many(first)
            ledger = run.tap.ledger
            await until(lambda: ledger.completed(ids) >= 300, limit=120, what="300 outcomes")
            before = ledger.completed(ids)
            restarts: list[int] = []
            supervisor = asyncio.create_task(
                _supervise(run, lambda: ledger.completed(ids) >= len(ids), restarts)
            )
            outage = asyncio.create_task(_outage(broker))
            await asyncio.sleep(1.0)  # the broker is going down: publish into the outage

            async def publish_late() -> None:
                for command in second:
                    await run.tap.publish_json(command, retry_for=120)

            await publish_late()
            outage_seconds = await outage
            await until(lambda: ledger.completed(ids) >= len(ids), limit=180, what="every outcome")
            await supervisor
            elapsed = time.monotonic() - started
            try:
                await quiet(run.tap, limit=60, calm=5.0, depths=False)
            except AssertionError as exc:
                raise AssertionError(f"{exc}; {await _sample(run)}") from None
            tally = ledger.tally(ids)
            titles = Counter(line["TITLE"] for line in await run.sandbox.lines(run.session))
            made = {c["data"]["title"] for c in commands if c["type"] == "line.create"}
            scanned = run.scan()
            figures.update(
                {
                    **tally.figures(),
                    "outcomes before the outage": before,
                    "outage seconds (stop_app → start_app done)": round(outage_seconds, 1),
                    "publishes retried during the outage": run.tap.publish_retries,
                    "worker exits (codes)": restarts,
                    "worker starts": run.worker.starts,
                    "seconds": round(elapsed, 1),
                    **scanned.figures(),
                }
            )
            assert tally.missing == [], ledger.explain(tally.missing)
            assert tally.several_outcomes == [], ledger.explain(tally.several_outcomes)
            assert all(code != 0 for code in restarts), "a worker gave up with exit code 0"
            assert all(titles[t] == 1 for t in made), "a line was created twice (or never)"
            assert tally.dead_letters == 0
            assert scanned.leaks == []
