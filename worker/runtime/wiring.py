"""Build a :class:`Worker` from settings and a handler registry (no upstream clients here)."""

from __future__ import annotations

from collections.abc import Mapping

from aio_pika.abc import AbstractRobustConnection

from worker import __version__
from worker.adapters.amqp.publisher import Publisher
from worker.adapters.amqp.topology import Declared, Names, TopologySpec
from worker.runtime.handler import CommandHandler
from worker.runtime.policy import RetryPolicy
from worker.runtime.processor import MessageObserver, Processor, ProcessorConfig
from worker.runtime.service import MessageCallback, Worker, WorkerConfig
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


def build_worker(
    settings: Settings,
    *,
    handlers: Mapping[str, CommandHandler],
    observer: MessageObserver | None = None,
    connection: AbstractRobustConnection | None = None,
) -> Worker:
    """The worker; on ``connection`` when given (its owner closes it), else on its own."""
    spec = topology_spec(settings)
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

    return Worker(
        config=WorkerConfig(
            amqp_url=settings.amqp_url.get_secret_value(),
            prefetch=settings.prefetch,
            shutdown_grace=settings.shutdown_grace,
            reconnect_timeout=settings.reconnect_timeout,
            connect_timeout=settings.connect_timeout,
        ),
        topology=spec,
        processor_factory=factory,
        connection=connection,
    )
