"""Build a :class:`Worker` (or, with ``SIPLINE_FLEET``, a fleet member) from settings and a
handler registry (no upstream clients here)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from aio_pika.abc import AbstractRobustConnection

from worker import __version__
from worker.adapters.amqp.publisher import Publisher
from worker.adapters.amqp.topology import Declared, Names, TopologySpec
from worker.fleet.member import FleetConfig, FleetMember
from worker.fleet.observer import FleetObserver
from worker.fleet.topology import FleetNames, FleetSpec
from worker.runtime.handler import CommandHandler
from worker.runtime.policy import RetryPolicy
from worker.runtime.processor import MessageObserver, Processor, ProcessorConfig
from worker.runtime.service import (
    MessageCallback,
    ProcessorFactory,
    Runner,
    Worker,
    WorkerConfig,
)
from worker.settings import Settings


def topology_spec(settings: Settings) -> TopologySpec:
    """The topology the settings describe: retry and settle intervals share the delay tiers."""
    tiers = sorted({*settings.retry_delays, *settings.settle_intervals})
    return TopologySpec(
        names=Names(settings.topology_prefix),
        delay_tiers=tuple(tiers),
        delivery_limit=settings.delivery_limit,
        events_max_bytes=settings.events_max_bytes,
        events_max_age=settings.events_max_age,
    )


def build_runner(
    settings: Settings,
    *,
    handlers: Mapping[str, CommandHandler],
    observer: MessageObserver | None = None,
    connection: AbstractRobustConnection | None = None,
    fleet_observer: FleetObserver | None = None,
    fleet_portals: Callable[[], Iterable[str]] | None = None,
) -> Runner:
    """A fleet member with ``SIPLINE_FLEET=true``, else the single-process worker.

    ``connection`` is the single-process worker's (its owner closes it); a fleet member
    needs its own, with a short heartbeat, so that a lost member is noticed in time: its
    owner opens it with ``member.connection_config()`` and hands it over with
    ``member.attach``. ``fleet_portals``: the portals served now, for shares counted in
    portals.
    """
    if not settings.fleet:
        return build_worker(settings, handlers=handlers, observer=observer, connection=connection)
    spec = topology_spec(settings)
    return FleetMember(
        config=FleetConfig(
            amqp_url=settings.amqp_url.get_secret_value(),
            prefetch=settings.prefetch,
            shutdown_grace=settings.shutdown_grace,
            max_body_bytes=settings.max_body_bytes,
            connect_timeout=settings.connect_timeout,
        ),
        topology=spec,
        fleet=FleetSpec(
            names=FleetNames(settings.topology_prefix),
            shards=settings.shards,
            delivery_limit=settings.delivery_limit,
        ),
        processor_factory=_processor_factory(settings, spec, handlers, observer),
        observer=fleet_observer,
        portals=fleet_portals,
    )


def build_worker(
    settings: Settings,
    *,
    handlers: Mapping[str, CommandHandler],
    observer: MessageObserver | None = None,
    connection: AbstractRobustConnection | None = None,
) -> Worker:
    """The worker; on ``connection`` when given (its owner closes it), else on its own."""
    spec = topology_spec(settings)
    return Worker(
        config=WorkerConfig(
            amqp_url=settings.amqp_url.get_secret_value(),
            prefetch=settings.prefetch,
            shutdown_grace=settings.shutdown_grace,
            reconnect_timeout=settings.reconnect_timeout,
            connect_timeout=settings.connect_timeout,
        ),
        topology=spec,
        processor_factory=_processor_factory(settings, spec, handlers, observer),
        connection=connection,
    )


def _processor_factory(
    settings: Settings,
    spec: TopologySpec,
    handlers: Mapping[str, CommandHandler],
    observer: MessageObserver | None,
) -> ProcessorFactory:
    policy = RetryPolicy(delays=tuple(settings.retry_delays), max_attempts=settings.max_attempts)
    config = ProcessorConfig(
        max_body_bytes=settings.max_body_bytes,
        version=__version__,
        commands_exchange=spec.names.commands_exchange,
    )

    def factory(publisher: Publisher, declared: Declared) -> MessageCallback:
        return Processor(
            publisher=publisher,
            handlers=handlers,
            policy=policy,
            topology=spec,
            config=config,
            observer=observer,
        )

    return factory
