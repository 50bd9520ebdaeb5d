"""An in-process sipline stack for the end-to-end benchmarks: sandbox, broker, worker, tap.

The sandbox (one portal and the Voximplant account) and the worker share this process and
its event loop, as in ``tests/e2e``; commands go through the real RabbitMQ on loopback and
events come back through a tap queue bound to the events exchange.  Every stack gets a
random topology prefix and deletes its topology on exit.
"""

from __future__ import annotations

import asyncio
import json
import math
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aio_pika
import aiohttp
from aio_pika.abc import AbstractExchange, AbstractIncomingMessage

from contracts import CONTENT_TYPE
from worker.adapters.amqp.topology import declare, delete_all
from worker.bootstrap import Application, application
from worker.runtime.processor import MessageObserver
from worker.runtime.wiring import topology_spec
from worker.sandbox.portal import PortalOptions
from worker.sandbox.stack import Sandbox
from worker.settings import Settings

AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
GENEROUS_BUCKET = (100_000, 100_000.0)  # so the sandbox portal's limits never throttle


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest-rank percentile (``share`` in 0..1) of a non-empty sequence."""
    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[rank - 1]


@dataclass
class Tap:
    """Every event on the events exchange, by causation id: first arrival time and body."""

    keep: frozenset[str] = frozenset()
    arrived: dict[tuple[str, str], float] = field(default_factory=dict)
    bodies: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    counts: Counter[tuple[str, str]] = field(default_factory=Counter)
    _waiters: dict[tuple[str, str], asyncio.Future[float]] = field(default_factory=dict)

    async def __call__(self, message: AbstractIncomingMessage) -> None:
        now = time.perf_counter()
        body = json.loads(message.body)
        key = (str(body.get("causationid")), str(body.get("type")))
        self.counts[key] += 1
        if key not in self.arrived:
            self.arrived[key] = now
            if key[1] in self.keep:
                self.bodies[key] = body
            waiter = self._waiters.pop(key, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(now)

    async def wait(self, causation: str, event_type: str, limit: float) -> float:
        """When the first ``event_type`` caused by ``causation`` arrived."""
        key = (causation, event_type)
        if key in self.arrived:
            return self.arrived[key]
        waiter = self._waiters.setdefault(key, asyncio.get_running_loop().create_future())
        return await asyncio.wait_for(waiter, limit)


@dataclass
class Stack:
    sandbox: Sandbox | None  # None when it runs in its own process
    app: Application
    settings: Settings
    tap: Tap
    exchange: AbstractExchange
    portal: str

    def set_latency(self, seconds: float) -> None:
        """Added latency of every sandbox request, portal and account alike."""
        assert self.sandbox is not None, "set the latency of a sandbox process at its start"
        self.sandbox.portal().set_faults(latency=seconds)
        self.sandbox.account.faults.latency = seconds

    async def publish(self, command_type: str, data: dict[str, Any]) -> tuple[str, float]:
        """Publish one command (confirmed); returns its id and when publishing began."""
        command_id = uuid.uuid4().hex
        body = {
            "specversion": "1.0",
            "id": command_id,
            "type": command_type,
            "source": "urn:sipline:benchmark",
            "portal": self.portal,
            "data": data,
        }
        message = aio_pika.Message(
            json.dumps(body).encode(),
            content_type=CONTENT_TYPE,
            message_id=command_id,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        )
        started = time.perf_counter()
        await self.exchange.publish(message, routing_key=command_type)
        return command_id, started


def _settings(tag: str, prefetch: int, settle: Sequence[float], url: str, **more: Any) -> Settings:
    return Settings(
        _env_file=more.pop("_env_file", None),  # type: ignore[call-arg]
        amqp_url=url,  # type: ignore[arg-type]
        topology_prefix=f"bench-{tag}-{uuid.uuid4().hex[:10]}",
        prefetch=prefetch,
        metrics_port=None,
        retry_delays=[1.0, 2.0],
        settle_intervals=list(settle),
        settle_deadline=30.0,
        shutdown_grace=10.0,
        reconnect_timeout=10.0,
        events_max_age="1h",
        events_max_bytes=100_000_000,
        **more,
    )


@asynccontextmanager
async def _worker(
    settings: Settings, keep: frozenset[str], observer: MessageObserver | None, url: str
) -> AsyncIterator[tuple[Application, Tap, AbstractExchange]]:
    """Topology, a tap on the events exchange and a running worker; all removed on exit."""
    spec = topology_spec(settings)
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        try:
            declared = await declare(channel, spec)
            tap = Tap(keep=keep)
            queue = await channel.declare_queue(exclusive=True, auto_delete=True)
            await queue.bind(declared.events_exchange, routing_key="#")
            await queue.consume(tap, no_ack=True)
            exchange = await channel.get_exchange(spec.names.commands_exchange)
            async with application(settings, message_observer=observer) as app:
                task = asyncio.create_task(app.worker.run())
                await asyncio.wait_for(app.worker.ready.wait(), timeout=20)
                try:
                    yield app, tap, exchange
                finally:
                    app.worker.stop()
                    await asyncio.wait_for(task, timeout=30)
        finally:
            await delete_all(await connection.channel(), spec)


@asynccontextmanager
async def running_stack(
    *,
    directory: Path,
    options: PortalOptions,
    tag: str,
    prefetch: int = 64,
    settle_intervals: Sequence[float] = (0.05,),
    wait_seconds: float = 0.0,
    progress_seconds: float = 0.0,
    keep: frozenset[str] = frozenset(),
    observer: MessageObserver | None = None,
    amqp_url: str = AMQP_URL,
) -> AsyncIterator[Stack]:
    """The sandbox in this process (its state and counters at hand) and a running worker."""
    sandbox = Sandbox(
        directory=directory,
        portals=[options],
        wait_seconds=wait_seconds,
        progress_seconds=progress_seconds,
    )
    async with sandbox:
        settings = _settings(tag, prefetch, settle_intervals, amqp_url, **sandbox.settings())
        async with _worker(settings, keep, observer, amqp_url) as (app, tap, exchange):
            yield Stack(sandbox, app, settings, tap, exchange, options.domain)


@asynccontextmanager
async def sandbox_process(
    directory: Path, *, domain: str, cloud_pbx_limit: int, latency: float
) -> AsyncIterator[Path]:
    """``sipline sandbox`` in a child process (registrations settle at once, a generous
    bucket, ``latency`` added to every portal and account request); yields its env file."""
    capacity, drain = GENEROUS_BUCKET
    env_file = directory / "sandbox.env"
    with (directory / "sandbox.log").open("wb") as log:
        child = await asyncio.create_subprocess_exec(
            str(Path(sys.executable).with_name("sipline")),
            "sandbox",
            f"--portal={domain}",
            f"--bucket={capacity}/{drain:g}",
            f"--cloud-pbx-limit={cloud_pbx_limit}",
            "--wait-seconds=0",
            "--progress-seconds=0",
            f"--latency={latency}",
            f"--state-dir={directory / 'state'}",
            f"--env-file={env_file}",
            "--log-level=WARNING",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=log,
        )
    try:
        deadline = time.monotonic() + 30
        while not (env_file.exists() and "SIPLINE_VOXIMPLANT_API_URL" in env_file.read_text()):
            if child.returncode is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the sandbox did not start; see {directory / 'sandbox.log'}")
            await asyncio.sleep(0.1)
        settings = Settings(_env_file=env_file)  # type: ignore[call-arg]
        admin = str(settings.voximplant_api_url).removesuffix("platform_api/") + "_sandbox/faults"
        async with (
            aiohttp.ClientSession() as session,
            session.post(admin, json={"latency": latency}) as answer,
        ):
            answer.raise_for_status()
        yield env_file
    finally:
        if child.returncode is None:
            child.terminate()
            try:
                await asyncio.wait_for(child.wait(), timeout=10)
            except TimeoutError:
                child.kill()
                await child.wait()


@asynccontextmanager
async def external_stack(
    *,
    directory: Path,
    domain: str,
    cloud_pbx_limit: int,
    latency: float,
    tag: str,
    prefetch: int = 64,
    settle_intervals: Sequence[float] = (0.05,),
    keep: frozenset[str] = frozenset(),
    observer: MessageObserver | None = None,
    amqp_url: str = AMQP_URL,
) -> AsyncIterator[Stack]:
    """The sandbox in its own process (its CPU apart from the worker's) and a running worker."""
    async with sandbox_process(
        directory, domain=domain, cloud_pbx_limit=cloud_pbx_limit, latency=latency
    ) as env_file:
        settings = _settings(tag, prefetch, settle_intervals, amqp_url, _env_file=env_file)
        async with _worker(settings, keep, observer, amqp_url) as (app, tap, exchange):
            yield Stack(None, app, settings, tap, exchange, domain)
