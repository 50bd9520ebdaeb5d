"""The worker service: one robust connection, a consumer, supervision, graceful shutdown.

Life cycle: connect → declare the topology → consume with ``prefetch`` deliveries in flight →
on SIGTERM/SIGINT stop consuming, let in-flight work finish within the grace period, close
(anything unacked goes back to the queue). If the connection or the consumer is lost and not
restored within ``reconnect_timeout``, :meth:`Worker.run` raises :class:`SupervisionError`
so the process exits non-zero and its supervisor restarts it, rather than idling.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

import aio_pika
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustConnection

from worker.adapters.amqp.publisher import Publisher
from worker.adapters.amqp.topology import Declared, TopologySpec, declare
from worker.errors import SiplineError

log = logging.getLogger(__name__)

MessageCallback = Callable[[AbstractIncomingMessage], Awaitable[None]]
ProcessorFactory = Callable[[Publisher, Declared], MessageCallback]


class Runner(Protocol):
    """What the entry point runs: a :class:`Worker`, or a fleet member (``worker.fleet``)."""

    ready: asyncio.Event

    @property
    def in_flight(self) -> int: ...

    @property
    def consuming(self) -> bool: ...

    def stop(self) -> None: ...

    async def run(self) -> None: ...


class SupervisionError(SiplineError):
    """The broker connection or the consumer was lost and not restored in time."""

    code = "SUPERVISION"


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    amqp_url: str
    prefetch: int
    shutdown_grace: float
    reconnect_timeout: float
    watchdog_interval: float = 1.0


class Worker:
    """Runs the consumer until :meth:`stop` is called or supervision gives up."""

    def __init__(
        self,
        *,
        config: WorkerConfig,
        topology: TopologySpec,
        processor_factory: ProcessorFactory,
    ) -> None:
        self._config = config
        self._topology = topology
        self._factory = processor_factory
        self._stop = asyncio.Event()
        self._inflight: set[asyncio.Task[None]] = set()
        self._consuming = False
        self.ready = asyncio.Event()

    @property
    def in_flight(self) -> int:
        return len(self._inflight)

    @property
    def consuming(self) -> bool:
        return self._consuming

    def stop(self) -> None:
        """Ask the worker to drain and exit (safe from a signal handler)."""
        self._stop.set()

    async def run(self) -> None:
        connection = await aio_pika.connect_robust(
            self._config.amqp_url,
            client_properties={"connection_name": f"sipline-worker {self._topology.names.prefix}"},
        )
        try:
            await self._run(connection)
        finally:
            self._consuming = False
            self.ready.clear()
            with contextlib.suppress(Exception):
                await connection.close()

    async def _run(self, connection: AbstractRobustConnection) -> None:
        publish_channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        declared = await declare(publish_channel, self._topology)
        publisher = Publisher(
            events=declared.events_exchange,
            delay=declared.delay_exchange,
            dead_letters=declared.dead_letter_exchange,
        )
        callback = self._factory(publisher, declared)

        consume_channel = await connection.channel(publisher_confirms=False)
        await consume_channel.set_qos(prefetch_count=self._config.prefetch)
        # a passive declare on the robust channel: the channel remembers the queue and, after
        # a reconnect, declares it and consumes from it again
        queue = await consume_channel.get_queue(declared.commands_queue.name)

        async def on_message(message: AbstractIncomingMessage) -> None:
            task = asyncio.current_task()
            assert task is not None
            self._inflight.add(task)
            try:
                await callback(message)
            finally:
                self._inflight.discard(task)

        tag = await queue.consume(on_message, no_ack=False)
        self._consuming = True
        self.ready.set()
        log.info("consuming", extra={"queue": queue.name, "prefetch": self._config.prefetch})
        watchdog = asyncio.create_task(self._watch(connection, consume_channel, tag))
        stopper = asyncio.create_task(self._stop.wait())
        try:
            done, _ = await asyncio.wait({watchdog, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (watchdog, stopper):
                task.cancel()
            await asyncio.gather(watchdog, stopper, return_exceptions=True)
        if watchdog in done and watchdog.exception() is not None:
            raise watchdog.exception()  # type: ignore[misc]
        await self._drain(queue, tag)

    async def _drain(self, queue: aio_pika.abc.AbstractQueue, tag: str) -> None:
        self._consuming = False
        self.ready.clear()
        with contextlib.suppress(Exception):
            await queue.cancel(tag)
        pending = set(self._inflight)
        log.info("stopping: draining in-flight work", extra={"in_flight": len(pending)})
        if pending:
            _, still = await asyncio.wait(pending, timeout=self._config.shutdown_grace)
            if still:
                log.warning(
                    "grace period over; unfinished commands go back to the queue",
                    extra={"in_flight": len(still)},
                )
                for task in still:
                    task.cancel()
                await asyncio.gather(*still, return_exceptions=True)

    async def _watch(
        self,
        connection: AbstractRobustConnection,
        channel: aio_pika.abc.AbstractChannel,
        tag: str,
    ) -> None:
        unhealthy_since: float | None = None
        while True:
            await asyncio.sleep(self._config.watchdog_interval)
            healthy = await _healthy(connection, channel, tag)
            self._consuming = healthy
            if healthy:
                if unhealthy_since is not None:
                    log.info("broker connection restored")
                unhealthy_since = None
                self.ready.set()
                continue
            self.ready.clear()
            now = time.monotonic()
            if unhealthy_since is None:
                unhealthy_since = now
                log.warning("broker connection or consumer lost; waiting for recovery")
            elif now - unhealthy_since > self._config.reconnect_timeout:
                raise SupervisionError(
                    f"no broker connection or consumer for {self._config.reconnect_timeout:.0f} s"
                )


async def _healthy(
    connection: AbstractRobustConnection, channel: aio_pika.abc.AbstractChannel, tag: str
) -> bool:
    if connection.is_closed or channel.is_closed or not connection.connected.is_set():
        return False
    try:
        # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow the cancellation that
        # stops the watchdog, which would leave shutdown waiting on it
        async with asyncio.timeout(1.0):
            underlay = await channel.get_underlay_channel()
    except (TimeoutError, RuntimeError, aio_pika.exceptions.AMQPError):
        return False
    consumers = getattr(underlay, "consumers", {})
    return not underlay.is_closed and tag in consumers
