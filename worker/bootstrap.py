"""The one place that wires everything: settings → broker connection → HTTP session →
adapters → handlers → worker → HTTP server.

Every async resource has one owner here and is closed, in reverse order, by the exit stack:
the store, the robust AMQP connection (opened within ``SIPLINE_CONNECT_TIMEOUT``, closed
without waiting for an absent broker), the upstreams' ``aiohttp`` session, a fleet member's
own plain connection (``SIPLINE_FLEET``), the line projection (event log → store,
:mod:`worker.projection`), the sweep schedule (:mod:`worker.schedule`, with the store), and,
when ``metrics`` is given, the HTTP server of ``/metrics``, ``/healthz``, ``/readyz``,
``/v1/*``, the status page, the Bitrix24 install route and Voximplant's callbacks
(``POST /voximplant/callbacks``).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

import aiohttp
from aio_pika.abc import AbstractRobustConnection

from worker.adapters.amqp.connection import (
    ConnectionConfig,
    plain_connection,
    robust_connection,
)
from worker.adapters.amqp.topology import Names
from worker.adapters.bitrix24 import Bitrix24Portals, Bitrix24Settings, TokenStore
from worker.adapters.bitrix24.tokens import SharedTokens, TokenKeeper, migrate_token_file
from worker.adapters.upstream import RequestObserver
from worker.adapters.voximplant import (
    ServiceAccountCredentials,
    VoximplantClient,
    load_configured_credentials,
)
from worker.adapters.voximplant.gateway import RegistrationsGateway
from worker.errors import ConfigurationError
from worker.fleet.member import FleetMember
from worker.handlers.checking import Clock
from worker.handlers.registry import build_handlers
from worker.http import http_server
from worker.http.callbacks import voximplant_callback_routes
from worker.http.health import HealthRoutes
from worker.http.install import InstallRoutes
from worker.http.metrics import MetricsRoutes
from worker.http.server import Routes
from worker.http.status_page import status_routes
from worker.observability.metrics import Metrics
from worker.observability.upstream import UpstreamObserver
from worker.projection.service import running_projection
from worker.runtime.handler import CommandHandler
from worker.runtime.processor import MessageObserver
from worker.runtime.service import Runner
from worker.runtime.wiring import build_runner
from worker.schedule import ScheduleConfig, SweepByTrigger, SweepSchedule
from worker.schedule.ticks import ScheduleObserver
from worker.settings import Settings
from worker.store import Store
from worker.store.creates import StoreCreatedLines
from worker.store.installs import Application as InstalledApplication
from worker.store.repairs import MemoryRepairLedger, StoreRepairLedger
from worker.store.sync import RegistrySync


@dataclass(frozen=True, slots=True)
class Application:
    worker: Runner
    bitrix24: Bitrix24Portals
    voximplant: VoximplantClient
    connection: AbstractRobustConnection  # the worker's; the exit stack closes it
    http_url: str | None = None  # the HTTP server's base URL, when one runs
    schedule: SweepSchedule | None = None  # with a store

    def stop(self) -> None:
        """The graceful stop (SIGTERM): the worker drains while the schedule stops firing
        and looking, at the same time, so the process ends within the worker's grace."""
        self.worker.stop()
        if self.schedule is not None:
            self.schedule.stop()


async def check_token_store(settings: Settings) -> None:
    """OAuth portals need a writable token store: find out now, not at the first refresh."""
    if not any(portal.oauth is not None for portal in settings.portals.values()):
        return
    path = settings.bitrix24_token_store
    try:
        await TokenStore(path).check_writable()
    except OSError as exc:
        raise ConfigurationError(
            f"SIPLINE_BITRIX24_TOKEN_STORE: {path} cannot be written "
            f"({exc.strerror or type(exc).__name__}); OAuth portals keep their refreshed "
            "tokens there"
        ) from None


async def token_keeper(settings: Settings, store: Store | None) -> TokenKeeper:
    """Where OAuth pairs live: in the store when the process has one (shared by every
    process, refreshed under its lock; a token file of a store-less run is moved into it
    first, once), else in ``SIPLINE_BITRIX24_TOKEN_STORE``. Either must accept a pair now
    when any portal uses OAuth, or may (the install route), else the start is refused."""
    if store is None:
        await check_token_store(settings)
        return TokenStore(settings.bitrix24_token_store)
    await migrate_token_file(settings.bitrix24_token_store, store)
    keeper = SharedTokens(store)
    if await _uses_oauth(settings, store):
        try:
            await keeper.check_writable()
        except OSError as exc:
            raise ConfigurationError(
                f"the store cannot keep OAuth tokens: {exc.strerror or type(exc).__name__}"
            ) from None
    return keeper


async def _uses_oauth(settings: Settings, store: Store) -> bool:
    if settings.app_client_id is not None:
        return True
    if any(portal.oauth is not None for portal in settings.portals.values()):
        return True
    async with store.unit_of_work(readonly=True) as uow:
        return any(portal.auth == "oauth" for portal in await uow.portals.list())


def installed_application(settings: Settings) -> InstalledApplication | None:
    """The application a portal unknown to the registry is installed as, if configured."""
    if settings.app_client_id is None or settings.app_client_secret is None:
        return None
    return InstalledApplication(
        client_id=settings.app_client_id,
        client_secret=settings.app_client_secret,
        oauth_server_url=str(settings.app_oauth_server_url),
        rest_url=settings.app_rest_url,
    )


def sweep_schedule(
    settings: Settings,
    *,
    store: Store,
    connection: AbstractRobustConnection,
    observer: ScheduleObserver | None = None,
) -> SweepSchedule:
    """The schedule the settings describe: every portal, every ``sweep_interval``."""
    return SweepSchedule(
        store=store,
        connection=connection,
        names=Names(settings.topology_prefix),
        config=ScheduleConfig(
            default_interval=settings.sweep_interval,
            grace=settings.sweep_grace,
            scan_every=settings.store_poll_interval,
            static={domain: p.sweep_interval for domain, p in settings.portals.items()},
        ),
        observer=observer,
    )


def bitrix24_portals(
    settings: Settings,
    *,
    session: aiohttp.ClientSession,
    observer: RequestObserver | None = None,
    tokens: TokenKeeper | None = None,
) -> Bitrix24Portals:
    """The Bitrix24 adapter the settings describe: its own settings, where OAuth pairs are
    kept (``tokens``; the token file by default) and the configured portals."""
    return Bitrix24Portals(
        session=session,
        token_store=tokens or TokenStore(settings.bitrix24_token_store),
        settings=Bitrix24Settings(
            connect_timeout=settings.bitrix24_connect_timeout,
            total_timeout=settings.bitrix24_total_timeout,
        ),
        observer=observer,
        portals=settings.portals,
    )


def voximplant_client(
    settings: Settings,
    *,
    session: aiohttp.ClientSession,
    credentials: ServiceAccountCredentials,
    observer: RequestObserver | None = None,
) -> VoximplantClient:
    """The Voximplant client the settings describe (URL, timeouts, token lifetime)."""
    return VoximplantClient(
        session=session,
        credentials=credentials,
        api_url=str(settings.voximplant_api_url),
        connect_timeout=settings.voximplant_connect_timeout,
        total_timeout=settings.voximplant_total_timeout,
        token_lifetime=settings.voximplant_token_lifetime,
        observer=observer,
    )


def command_handlers(
    settings: Settings,
    *,
    portals: Bitrix24Portals,
    registrations: RegistrationsGateway,
    clock: Clock,
    store: Store | None,
    metrics: Metrics | None,
) -> dict[str, CommandHandler]:
    """Every command's handler; ``portal.sweep`` by trigger, so a scheduled sweep reports
    only what diverges (:class:`SweepByTrigger`) and repairs like any other."""
    repairs = MemoryRepairLedger() if store is None else StoreRepairLedger(store=store)
    created_lines = None if store is None else StoreCreatedLines(store)

    def build(config: Settings) -> dict[str, CommandHandler]:
        return build_handlers(
            portals=portals,
            registrations=registrations,
            settings=config,
            clock=clock,
            repairs=repairs,
            repair_observer=metrics,
            created_lines=created_lines,
        )

    handlers = build(settings)
    scheduled = build(settings.model_copy(update={"sweep_report_only_divergent": True}))
    handlers["portal.sweep"] = SweepByTrigger(
        scheduled=scheduled["portal.sweep"], commanded=handlers["portal.sweep"], observer=metrics
    )
    return handlers


@asynccontextmanager
async def application(
    settings: Settings,
    *,
    upstream_observer: UpstreamObserver | None = None,
    message_observer: MessageObserver | None = None,
    clock: Clock = time.time,
    metrics: Metrics | None = None,
    store: Store | None = None,
) -> AsyncIterator[Application]:
    """Build the worker and everything it owns; close it all on exit.

    ``metrics``: serve them, with the health checks, on ``SIPLINE_METRICS_PORT``.
    ``store``: follow its portal registry (added, changed, disabled and removed portals
    are applied every ``SIPLINE_STORE_POLL_INTERVAL``; the store wins over
    ``SIPLINE_PORTALS`` for a domain both name). Its owner opens and closes it.
    """
    credentials = load_configured_credentials(settings.voximplant_credentials)  # before I/O
    tokens = await token_keeper(settings, store)
    observer = upstream_observer or UpstreamObserver()
    async with AsyncExitStack() as stack:
        connection = await stack.enter_async_context(
            robust_connection(
                ConnectionConfig(
                    url=settings.amqp_url.get_secret_value(),
                    name=f"sipline-worker {settings.topology_prefix}",
                    connect_timeout=settings.connect_timeout,
                )
            )
        )
        session = await stack.enter_async_context(
            aiohttp.ClientSession(raise_for_status=False, trust_env=False)
        )
        bitrix24 = bitrix24_portals(settings, session=session, observer=observer, tokens=tokens)
        if store is not None:
            await stack.enter_async_context(
                RegistrySync(
                    store=store,
                    sink=bitrix24,
                    static=settings.portals,
                    interval=settings.store_poll_interval,
                ).running()
            )
        voximplant = voximplant_client(
            settings, session=session, credentials=credentials, observer=observer
        )
        handlers = command_handlers(
            settings,
            portals=bitrix24,
            registrations=RegistrationsGateway(client=voximplant),
            clock=clock,
            store=store,
            metrics=metrics,
        )
        worker = build_runner(
            settings,
            handlers=handlers,
            observer=message_observer,
            connection=connection,
            fleet_observer=metrics,
            fleet_portals=bitrix24.domains,
        )
        if isinstance(worker, FleetMember):  # its own connection, without auto-recovery
            worker.attach(
                await stack.enter_async_context(plain_connection(worker.connection_config()))
            )
        names = Names(settings.topology_prefix)
        routes: list[Routes] = []
        schedule = None
        if store is not None:
            await stack.enter_async_context(
                running_projection(
                    store=store,
                    connection=connection,
                    stream=names.events_log,
                    registry=None if metrics is None else metrics.registry,
                )
            )
            schedule = sweep_schedule(
                settings, store=store, connection=connection, observer=metrics
            )
            await stack.enter_async_context(schedule.running(after=worker.ready))
            routes = status_routes(
                store=store, amqp_url=settings.amqp_url.get_secret_value(), names=names
            )
            routes.append(
                InstallRoutes(
                    store=store,
                    application=installed_application(settings),
                    configured=settings.portals,
                )
            )
        http_url = None
        if metrics is not None:
            metrics.watch(worker)
            routes.append(
                voximplant_callback_routes(
                    settings,
                    store=store,
                    connection=connection,
                    registry=metrics.registry,
                    account_id=credentials.account_id,
                    served=bitrix24.serves,
                )
            )
            http_url = await stack.enter_async_context(
                http_server(
                    [HealthRoutes(worker), MetricsRoutes(metrics), *routes],
                    host=settings.metrics_host,
                    port=settings.metrics_port,
                )
            )
        yield Application(
            worker=worker,
            bitrix24=bitrix24,
            voximplant=voximplant,
            connection=connection,
            http_url=http_url,
            schedule=schedule,
        )
