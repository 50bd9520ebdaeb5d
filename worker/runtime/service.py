"""The worker service: a consumer on one robust connection, supervision, graceful shutdown.

Life cycle (the phases :meth:`Worker.status` reports, each but ``consuming`` with a
deadline): ``starting`` (declare the topology, attach the consumer) → ``consuming`` with
``prefetch`` deliveries in flight, ``reconnecting`` while the connection or the consumer is
lost → on :meth:`Worker.stop` (SIGTERM/SIGINT) ``draining``: stop consuming, let in-flight
work finish within ``shutdown_grace``, cancel the rest (anything unacked goes back to the
queue by itself) → ``stopped``.

- :meth:`Worker.stop` works in every phase: while starting it abandons the start; while
  the broker is away it does not wait for the broker (cancelling the consumer needs one,
  and the consumer is gone with the connection anyway).
- If the connection or the consumer is lost and not restored within ``reconnect_timeout``,
  :meth:`Worker.run` raises :class:`SupervisionError` so the process exits non-zero and its
  supervisor restarts it, rather than idling.

The connection is given by its owner (the application's exit stack, see
:mod:`worker.bootstrap`); a worker built without one opens and closes its own with the same
deadlines (tests, benchmarks).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

import aio_pika
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustConnection

from worker.adapters.amqp.connection import ConnectionConfig, robust_connection
from worker.adapters.amqp.publisher import Publisher
from worker.adapters.amqp.topology import Declared, TopologySpec, declare
from worker.errors import SiplineError
from worker.runtime.inflight import InFlight

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

    def status(self) -> WorkerStatus: ...

    def stop(self) -> None: ...

    async def run(self) -> None: ...


class SupervisionError(SiplineError):
    """The broker connection or the consumer was lost and not restored in time."""

    code = "SUPERVISION"


class Phase(enum.StrEnum):
    STARTING = "starting"
    CONSUMING = "consuming"
    RECONNECTING = "reconnecting"
    DRAINING = "draining"
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class WorkerStatus:
    """Where the worker is in its life cycle, for health checks."""

    phase: Phase
    since: float  # time.monotonic() when the phase began
    deadline: float | None  # seconds the phase may last; None: as long as it likes
    in_flight: int


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    amqp_url: str
    prefetch: int
    shutdown_grace: float
    reconnect_timeout: float
    connect_timeout: float = 30.0
    watchdog_interval: float = 1.0
    close_timeout: float = 5.0  # closing the connection and cancelling the consumer


class Worker:
    """Runs the consumer until :meth:`stop` is called or supervision gives up."""

    def __init__(
        self,
        *,
        config: WorkerConfig,
        topology: TopologySpec,
        processor_factory: ProcessorFactory,
        connection: AbstractRobustConnection | None = None,
    ) -> None:
        self._config = config
        self._topology = topology
        self._factory = processor_factory
        self._connection = connection
        self._stop = asyncio.Event()
        self._inflight = InFlight()
        self._phase = Phase.STARTING
        self._since = time.monotonic()
        self._runner: asyncio.Task[None] | None = None
        self._abandoned = False
        self.ready = asyncio.Event()

    @property
    def in_flight(self) -> int:
        return len(self._inflight)

    @property
    def consuming(self) -> bool:
        return self._phase is Phase.CONSUMING

    def status(self) -> WorkerStatus:
        limits = {
            Phase.STARTING: self._config.connect_timeout,
            Phase.RECONNECTING: self._config.reconnect_timeout,
            Phase.DRAINING: self._config.shutdown_grace + 2 * self._config.close_timeout,
            # a process whose worker stopped is closing down; still here after that, it hangs
            Phase.STOPPED: 2 * self._config.close_timeout,
        }
        return WorkerStatus(self._phase, self._since, limits.get(self._phase), self.in_flight)

    def _enter(self, phase: Phase) -> None:
        if phase is not self._phase:
            self._phase, self._since = phase, time.monotonic()
        if phase is Phase.CONSUMING:
            self.ready.set()
        else:
            self.ready.clear()

    def stop(self) -> None:
        """Ask the worker to drain and exit (safe from a signal handler, in any phase)."""
        self._stop.set()
        if self._phase is Phase.STARTING and self._runner is not None and not self._abandoned:
            # nothing is in flight yet: abandon the start (connect, declare) at once
            self._abandoned = True
            self._runner.cancel()

    async def run(self) -> None:
        self._runner = asyncio.current_task()
        try:
            if self._stop.is_set():
                return
            if self._connection is not None:
                await self._run(self._connection)
                return
            config = ConnectionConfig(
                url=self._config.amqp_url,
                name=f"sipline-worker {self._topology.names.prefix}",
                connect_timeout=self._config.connect_timeout,
                close_timeout=self._config.close_timeout,
            )
            async with robust_connection(config) as connection:
                await self._run(connection)
        except asyncio.CancelledError:
            if not self._abandoned or self._runner is None:
                raise
            self._runner.uncancel()
            log.info("stopped while starting")
        finally:
            self._enter(Phase.STOPPED)
            self._runner = None

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

        tag = await queue.consume(self._inflight.tracking(callback), no_ack=False)
        self._enter(Phase.CONSUMING)
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
        await self._drain(connection, queue, tag)

    async def _drain(
        self, connection: AbstractRobustConnection, queue: aio_pika.abc.AbstractQueue, tag: str
    ) -> None:
        """Stop consuming and let in-flight work finish, all within ``shutdown_grace``."""
        self._enter(Phase.DRAINING)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._config.shutdown_grace
        if connection.connected.is_set():
            # on the robust channel a cancel waits for a reconnect: with the broker away,
            # skip it (the consumer is gone with the connection anyway)
            with contextlib.suppress(Exception):
                async with asyncio.timeout(
                    min(self._config.close_timeout, self._config.shutdown_grace)
                ):
                    await queue.cancel(tag)
        log.info("stopping: draining in-flight work", extra={"in_flight": len(self._inflight)})
        cut_short = await self._inflight.finish(max(0.0, deadline - loop.time()))
        if cut_short:
            log.warning(
                "grace period over; unfinished commands go back to the queue",
                extra={"in_flight": cut_short},
            )

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
            if healthy:
                if unhealthy_since is not None:
                    log.info("broker connection restored")
                unhealthy_since = None
                self._enter(Phase.CONSUMING)
                continue
            self._enter(Phase.RECONNECTING)
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
