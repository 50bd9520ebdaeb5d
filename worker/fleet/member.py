"""One process of the fleet: router, membership and shard consumers over one connection.

It has the same surface as :class:`worker.runtime.service.Worker` (``run``, ``stop``,
``ready``, ``in_flight``, ``consuming``) and takes the same processor factory, so the entry
point can run either.

Life cycle: connect (a short AMQP heartbeat, so a lost network is noticed in seconds) →
declare the topology with a single-active command queue → check and declare the shards →
announce itself and listen for one beat interval → route and take its shards, and follow the
membership from then on. On :meth:`stop`: stop routing, give every shard away (finish what is
in hand, return the rest), say goodbye, close. If the connection is lost the process does
not try to carry on with a half view of the fleet: :meth:`run` raises
:class:`~worker.runtime.service.SupervisionError`, so the supervisor restarts it and it
joins again as a new member; meanwhile the broker hands its shards to the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import aiormq
from aio_pika.abc import AbstractChannel, AbstractConnection

from worker.adapters.amqp.connection import ConnectionConfig, plain_connection
from worker.adapters.amqp.publisher import Publisher
from worker.adapters.amqp.topology import Declared, TopologySpec, declare
from worker.fleet.consumers import ShardConsumers
from worker.fleet.membership import Membership
from worker.fleet.observer import FleetObserver
from worker.fleet.router import Router, RouterConfig
from worker.fleet.shards import assign, portal_weights, portals_digest
from worker.fleet.topology import FleetRefused, FleetSpec, declare_fleet
from worker.runtime.service import (
    Phase,
    ProcessorFactory,
    SupervisionError,
    WorkerStatus,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class FleetConfig:
    amqp_url: str
    prefetch: int
    shutdown_grace: float
    max_body_bytes: int
    connect_timeout: float = 30.0
    beat_interval: float = 2.0
    missed_beats: int = 3
    amqp_heartbeat: int = 5
    router_prefetch: int = 256
    tick: float = 0.5
    member_id: str = ""


def connection_config(config: FleetConfig, prefix: str, member_id: str) -> ConnectionConfig:
    return ConnectionConfig(
        url=config.amqp_url,
        name=f"sipline-fleet {prefix} {member_id}",
        connect_timeout=config.connect_timeout,
        heartbeat=config.amqp_heartbeat,
    )


def new_member_id() -> str:
    """Unique per run: a restarted process is a new member."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class FleetMember:
    """Runs this process's part of the fleet until :meth:`stop` or a lost connection."""

    def __init__(
        self,
        *,
        config: FleetConfig,
        topology: TopologySpec,
        fleet: FleetSpec,
        processor_factory: ProcessorFactory,
        observer: FleetObserver | None = None,
        connection: AbstractConnection | None = None,
        portals: Callable[[], Iterable[str]] | None = None,
    ) -> None:
        """``connection``: one opened with :meth:`connection_config` by the process's exit
        stack, which closes it; without it the member opens and closes its own.
        ``portals``: the portals this process serves now; while every member reports the
        same set, shares are counted in portals (:func:`~worker.fleet.shards.assign`)."""
        self._config = config
        self._given = connection
        self._portals = portals
        self._weighed: tuple[str, ...] = ()
        self._digest = ""
        self._weights: dict[int, int] = {}
        self._observer = observer
        self._topology = dataclasses.replace(topology, single_active_commands=True)
        self._fleet = fleet
        self._factory = processor_factory
        self.member_id = config.member_id or new_member_id()
        self._stop = asyncio.Event()
        self._consumers: ShardConsumers | None = None
        self._membership: Membership | None = None
        self.router: Router | None = None
        self.connection: AbstractConnection | None = None
        self.ready = asyncio.Event()
        self._started = time.monotonic()
        self._stopped_at: float | None = None

    @property
    def in_flight(self) -> int:
        return self._consumers.in_flight if self._consumers else 0

    @property
    def consuming(self) -> bool:
        return self.ready.is_set()

    @property
    def held(self) -> frozenset[int]:
        return self._consumers.held if self._consumers else frozenset()

    def members(self) -> frozenset[str]:
        return self._membership.live() if self._membership else frozenset({self.member_id})

    def status(self) -> WorkerStatus:
        """For health checks: starting (until it holds its share), consuming, or stopped."""
        if self._stopped_at is not None:
            return WorkerStatus(Phase.STOPPED, self._stopped_at, 10.0, self.in_flight)
        if self.ready.is_set():
            return WorkerStatus(Phase.CONSUMING, self._started, None, self.in_flight)
        return WorkerStatus(
            Phase.STARTING, self._started, self._config.connect_timeout, self.in_flight
        )

    def stop(self) -> None:
        """Ask the member to hand everything over and exit (safe from a signal handler)."""
        self._stop.set()

    def connection_config(self) -> ConnectionConfig:
        """The member's connection: a short AMQP heartbeat, so a lost network is noticed in
        seconds; no automatic recovery (see :func:`plain_connection`)."""
        return connection_config(self._config, self._fleet.names.prefix, self.member_id)

    def attach(self, connection: AbstractConnection) -> None:
        """Run on ``connection`` (opened with :meth:`connection_config` by the process's
        exit stack, which closes it) instead of opening one."""
        self._given = connection

    async def run(self) -> None:
        async with contextlib.AsyncExitStack() as stack:
            connection = self._given
            if connection is None:
                connection = await stack.enter_async_context(
                    plain_connection(self.connection_config())
                )
            self.connection = connection
            try:
                await self._run(connection)
            finally:
                self.ready.clear()
                self._stopped_at = time.monotonic()

    async def _run(self, connection: AbstractConnection) -> None:
        consumers, membership, router = await self._build(connection)
        self._consumers, self._membership, self.router = consumers, membership, router
        self._weigh()  # the first beat names the portals: no round of shares by count first
        await membership.start()
        # listen for one beat before taking anything: the others announce themselves
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._config.beat_interval * 1.2):
                await self._stop.wait()
        beating = asyncio.create_task(membership.run(), name="fleet-membership")
        routing = asyncio.create_task(router.run(), name="fleet-router")
        following = asyncio.create_task(self._follow(connection, consumers, membership))
        stopper = asyncio.create_task(self._stop.wait())
        every: list[asyncio.Task[Any]] = [beating, routing, following, stopper]
        try:
            done, _ = await asyncio.wait(every, return_when=asyncio.FIRST_COMPLETED)
            failed = [t for t in done if t is not stopper and t.exception() is not None]
            self.ready.clear()
            router.stop()
            for task in (beating, following):
                task.cancel()
            await asyncio.gather(beating, following, return_exceptions=True)
            # say goodbye first: the others subscribe to this member's shards now and wait,
            # and the broker activates them the moment each shard's channel closes below
            await membership.stop()
            with contextlib.suppress(Exception):
                await consumers.give_all()
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(routing, timeout=self._config.shutdown_grace)
            if failed:
                raise SupervisionError(f"fleet member stopped: {failed[0].exception()}")
        finally:
            for task in every:
                task.cancel()
            await asyncio.gather(*every, return_exceptions=True)

    async def _build(
        self, connection: AbstractConnection
    ) -> tuple[ShardConsumers, Membership, Router]:
        async def open_channel() -> AbstractChannel:
            return await connection.channel()

        publish_channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        declared = await _declare(publish_channel, self._topology)
        await declare_fleet(publish_channel, open_channel, self._fleet)
        publisher = Publisher(
            events=declared.events_exchange,
            delay=declared.delay_exchange,
            dead_letters=declared.dead_letter_exchange,
        )
        callback = self._factory(publisher, declared)
        consumers = ShardConsumers(
            connection=connection,
            names=self._fleet.names,
            callback=callback,
            prefetch=self._config.prefetch,
            grace=self._config.shutdown_grace,
            observer=self._observer,
        )
        membership = Membership(
            connection=connection,
            exchange=self._fleet.names.fleet_exchange,
            member=self.member_id,
            held=lambda: consumers.held,
            portals=lambda: self._digest,
            interval=self._config.beat_interval,
            missed=self._config.missed_beats,
        )
        router = Router(
            connection=connection,
            spec=self._fleet,
            reject=callback,
            config=RouterConfig(
                prefetch=self._config.router_prefetch,
                max_body_bytes=self._config.max_body_bytes,
            ),
            observer=self._observer,
        )
        return consumers, membership, router

    def _weigh(self) -> None:
        """Weigh the shards by the portals served now (and name them for the beats)."""
        if self._portals is not None:
            names = tuple(sorted(self._portals()))
            if names != self._weighed:
                self._weighed = names
                self._digest = portals_digest(names) if names else ""
                self._weights = portal_weights(names, self._fleet.shards)

    def _agreed_weights(self, membership: Membership) -> dict[int, int] | None:
        """The shards' portal counts, if every live member weighs by the same portals; else
        None (shares by count), so members that disagree never leave a shard to nobody."""
        self._weigh()
        if not self._digest:
            return None
        if any(digest != self._digest for digest in membership.weighing().values()):
            return None
        return self._weights

    async def _follow(
        self, connection: AbstractConnection, consumers: ShardConsumers, membership: Membership
    ) -> None:
        """Keep the subscriptions equal to this member's share of the live fleet."""
        while True:
            if connection.is_closed:
                raise ConnectionError("the broker connection is closed")
            live = membership.live()
            mine = assign(self._fleet.shards, live, self._agreed_weights(membership)).get(
                self.member_id, frozenset()
            )
            if mine != consumers.held:
                log.info(
                    "fleet assignment",
                    extra={"members": len(live), "shards": sorted(mine)},
                )
            await consumers.apply(mine)
            if self._observer is not None:
                self._observer.fleet_state(shards=len(consumers.held), members=len(live))
            self.ready.set()
            membership.changed.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._config.tick):
                    await membership.changed.wait()


async def _declare(channel: AbstractChannel, spec: TopologySpec) -> Declared:
    try:
        return await declare(channel, spec)
    except aiormq.exceptions.ChannelPreconditionFailed as exc:
        if "x-single-active-consumer" in str(exc):
            raise FleetRefused(
                f"the queue {spec.names.commands_queue} was declared by a worker not in fleet "
                "mode (without x-single-active-consumer); it must be drained and declared "
                "again: see 'Moving to a fleet' in docs/operations.md"
            ) from None
        raise
