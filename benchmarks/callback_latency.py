"""Detection latency: a registration fails in the sandbox → ``line.reconciled``.

Nobody sends a command. The sandbox's registrar refuses a working registration (both sides
report the failure at once, as after a refused re-REGISTER); the sandbox account POSTs a
signed ``sip_registration_fail`` to the worker's ``/voximplant/callbacks``; the worker
verifies it, finds the line through the store, publishes ``line.reconcile`` with confirms,
records the callback and answers 200; the command comes back from RabbitMQ, the line is
cross-checked against both sides, and ``line.reconciled`` (``registration_failed``) is
published. The figure is the time from the refusal to that event arriving on a tap of the
events exchange. Then the registration is admitted again and the same is measured for the
recovery (``sip_registration_recovered`` → ``in_sync``).

Failures are made one at a time (``--failures``, on as many lines), so each figure is the
latency of an idle worker. The sandbox (portal and account) runs in this process, on this
event loop, as in ``tests/callbacks``; the broker is the local RabbitMQ; the store is an
SQLite file, or PostgreSQL with ``--store postgresql`` (a schema of its own, dropped after).

    .venv/bin/python -m benchmarks.callback_latency [--failures 20] [--store sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aio_pika
import aiohttp
from aio_pika.abc import AbstractExchange, AbstractIncomingMessage
from pydantic import SecretStr

from benchmarks._stack import AMQP_URL, GENEROUS_BUCKET, percentile
from benchmarks._store import drop_store_schema
from contracts import CONTENT_TYPE
from worker.adapters.amqp.topology import declare, delete_all
from worker.adapters.store import generate_key, open_store
from worker.bootstrap import application
from worker.http.callbacks import PATH
from worker.observability.metrics import Metrics
from worker.runtime.wiring import topology_spec
from worker.sandbox.portal import PortalOptions
from worker.sandbox.registrations import DEFAULT_PASSWORD, DEFAULT_SERVER
from worker.sandbox.stack import Sandbox
from worker.sandbox.voximplant import admin
from worker.settings import Settings
from worker.store import Store

DOMAIN = "callbacks.bitrix24.test"
SALT = "bench-callback-salt"
PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


@dataclass
class Verdicts:
    """``line.reconciled`` arrivals: (config_id, verdict) → arrival times, in order."""

    seen: dict[tuple[int, str], list[float]] = field(default_factory=dict)
    created: dict[str, dict[str, Any]] = field(default_factory=dict)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def __call__(self, message: AbstractIncomingMessage) -> None:
        now = time.perf_counter()
        body = json.loads(message.body)
        if body.get("type") == "line.created":
            self.created[str(body["causationid"])] = body["data"]
        elif body.get("type") == "line.reconciled":
            key = (int(body["data"]["config_id"]), str(body["data"]["verdict"]))
            self.seen.setdefault(key, []).append(now)
        self._changed.set()

    async def next(self, config_id: int, verdict: str, *, after: float, limit: float) -> float:
        """When the first such event after ``after`` arrived."""
        deadline = time.perf_counter() + limit
        while True:
            later = [t for t in self.seen.get((config_id, verdict), []) if t >= after]
            if later:
                return later[0]
            left = deadline - time.perf_counter()
            if left <= 0:
                raise TimeoutError(f"no line.reconciled {verdict} for line {config_id}")
            self._changed.clear()
            with suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)


def _settings(sandbox: Sandbox, store: dict[str, Any]) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        amqp_url=AMQP_URL,  # type: ignore[arg-type]
        topology_prefix=f"bench-callbacks-{uuid.uuid4().hex[:10]}",
        metrics_host="127.0.0.1",
        metrics_port=0,
        settle_intervals=[0.05],
        settle_deadline=30.0,
        shutdown_grace=10.0,
        events_max_age="1h",
        events_max_bytes=100_000_000,
        voximplant_callback_salt=SecretStr(SALT),
        voximplant_api_key=SecretStr(sandbox.account.api_key),
        **store,
        **sandbox.settings(),
    )


@asynccontextmanager
async def _store(kind: str, directory: Path) -> AsyncIterator[tuple[Store, dict[str, Any]]]:
    values: dict[str, Any] = {"store_key": SecretStr(generate_key())}
    if kind == "postgresql":
        values |= {"store_url": SecretStr(PG_URL), "store_schema": f"b_{uuid.uuid4().hex[:12]}"}
    else:
        values |= {"store_url": SecretStr(f"sqlite:///{directory / 'store.db'}")}
    settings = Settings(_env_file=None, **values)  # type: ignore[call-arg]
    try:
        async with open_store(settings) as store:
            yield store, values
    finally:
        await drop_store_schema(settings)


async def _create(exchange: AbstractExchange, verdicts: Verdicts, i: int) -> dict[str, Any]:
    command_id = uuid.uuid4().hex
    body = {
        "specversion": "1.0",
        "id": command_id,
        "type": "line.create",
        "source": "urn:sipline:benchmark",
        "portal": DOMAIN,
        "data": {
            "title": f"callback bench {i:03d}",
            "server": DEFAULT_SERVER,
            "login": f"cb-bench-{i:03d}",
            "password": DEFAULT_PASSWORD,
        },
    }
    await exchange.publish(
        aio_pika.Message(json.dumps(body).encode(), content_type=CONTENT_TYPE),
        routing_key="line.create",
    )
    deadline = time.monotonic() + 30
    while command_id not in verdicts.created:
        if time.monotonic() > deadline:
            raise TimeoutError("line.create did not finish")
        await asyncio.sleep(0.01)
    return verdicts.created[command_id]


async def _projected(store: Store, reg_id: int) -> None:
    deadline = time.monotonic() + 30
    while True:
        async with store.unit_of_work(readonly=True) as uow:
            if await uow.lines.by_reg_ids([reg_id]):
                return
        if time.monotonic() > deadline:
            raise TimeoutError("the projection did not record the line")
        await asyncio.sleep(0.02)


@dataclass
class Bench:
    sandbox: Sandbox
    store: Store
    exchange: AbstractExchange
    verdicts: Verdicts
    session: aiohttp.ClientSession

    async def line(self, i: int) -> tuple[int, int]:
        """A new line, settled and known to the store: (config_id, reg_id)."""
        line = await _create(self.exchange, self.verdicts, i)
        await _projected(self.store, line["reg_id"])
        return int(line["config_id"]), int(line["reg_id"])

    async def timed(self, step: str, reg_id: int, config_id: int, verdict: str) -> float:
        """Refuse or admit ``reg_id``; seconds until ``line.reconciled`` says ``verdict``."""
        started = time.perf_counter()
        change = admin.refuse if step == "refuse" else admin.admit
        await change(self.session, self.sandbox.account.admin_url, reg_id)
        done = await self.verdicts.next(config_id, verdict, after=started, limit=30)
        return done - started


@asynccontextmanager
async def running(directory: Path, lines: int, store_kind: str) -> AsyncIterator[Bench]:
    """Sandbox, store, topology with a tap, and the worker consuming with its HTTP port."""
    capacity, drain = GENEROUS_BUCKET
    options = PortalOptions(
        domain=DOMAIN,
        cloud_pbx_limit=lines + 5,
        bucket_capacity=capacity,
        drain_per_second=drain,
    )
    sandbox = Sandbox(
        directory=directory / "sandbox", portals=[options], wait_seconds=0, progress_seconds=0
    )
    async with sandbox, _store(store_kind, directory) as (store, store_values):
        settings = _settings(sandbox, store_values)
        spec = topology_spec(settings)
        connection = await aio_pika.connect(AMQP_URL)
        async with connection, aiohttp.ClientSession() as session:
            channel = await connection.channel(publisher_confirms=True)
            try:
                declared = await declare(channel, spec)
                verdicts = Verdicts()
                tap = await channel.declare_queue(exclusive=True, auto_delete=True)
                await tap.bind(declared.events_exchange, routing_key="#")
                await tap.consume(verdicts, no_ack=True)
                exchange = await channel.get_exchange(spec.names.commands_exchange)
                async with application(settings, metrics=Metrics(), store=store) as app:
                    assert app.http_url is not None
                    sandbox.account.set_callback(app.http_url + PATH, SALT)
                    task = asyncio.create_task(app.worker.run())
                    await asyncio.wait_for(app.worker.ready.wait(), timeout=20)
                    try:
                        yield Bench(sandbox, store, exchange, verdicts, session)
                    finally:
                        app.worker.stop()
                        await asyncio.wait_for(task, timeout=30)
            finally:
                await delete_all(await connection.channel(), spec)


async def measure(failures: int, store_kind: str) -> dict[str, list[float]]:
    figures: dict[str, list[float]] = {"fail": [], "recover": []}
    with tempfile.TemporaryDirectory() as tmp:
        async with running(Path(tmp), failures, store_kind) as bench:
            for i in range(failures):
                config_id, reg_id = await bench.line(i)
                figures["fail"].append(
                    await bench.timed("refuse", reg_id, config_id, "registration_failed")
                )
                figures["recover"].append(await bench.timed("admit", reg_id, config_id, "in_sync"))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--failures", type=int, default=20)
    parser.add_argument("--store", choices=("sqlite", "postgresql"), default="sqlite")
    args = parser.parse_args()
    figures = asyncio.run(measure(args.failures, args.store))
    print(f"callback detection latency, {args.failures} failures, store {args.store}:")
    for name, label in (
        ("fail", "failure → registration_failed"),
        ("recover", "recovery → in_sync"),
    ):
        values = [v * 1000 for v in figures[name]]
        print(
            f"  {label:<32} p50 {percentile(values, 0.5):7.1f} ms   "
            f"p95 {percentile(values, 0.95):7.1f} ms   max {max(values):7.1f} ms"
        )


if __name__ == "__main__":
    main()
