"""The one place that wires everything: settings → HTTP session → adapters → handlers → worker.

Every async resource has one owner here and is closed, in reverse order, by the exit stack.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

import aiohttp

from worker.adapters.bitrix24 import Bitrix24Clients
from worker.adapters.bitrix24.gateway import PortalsGateway
from worker.adapters.voximplant import VoximplantClient, load_credentials_from_settings
from worker.adapters.voximplant.gateway import RegistrationsGateway
from worker.handlers.checking import Clock
from worker.handlers.registry import build_handlers
from worker.observability.upstream import UpstreamObserver
from worker.runtime.processor import MessageObserver
from worker.runtime.service import Runner
from worker.runtime.wiring import build_runner
from worker.settings import Settings


@dataclass(frozen=True, slots=True)
class Application:
    worker: Runner
    bitrix24: Bitrix24Clients
    voximplant: VoximplantClient


@asynccontextmanager
async def application(
    settings: Settings,
    *,
    upstream_observer: UpstreamObserver | None = None,
    message_observer: MessageObserver | None = None,
    clock: Clock = time.time,
) -> AsyncIterator[Application]:
    """Build the worker and everything it owns; close it all on exit."""
    credentials = load_credentials_from_settings(settings)  # fail fast, before any I/O
    observer = upstream_observer or UpstreamObserver()
    async with AsyncExitStack() as stack:
        session = await stack.enter_async_context(
            aiohttp.ClientSession(raise_for_status=False, trust_env=False)
        )
        bitrix24 = Bitrix24Clients(session=session, settings=settings, observer=observer)
        voximplant = VoximplantClient.from_settings(
            settings, session=session, credentials=credentials, observer=observer
        )
        handlers = build_handlers(
            portals=PortalsGateway(clients=bitrix24),
            registrations=RegistrationsGateway(client=voximplant),
            settings=settings,
            clock=clock,
        )
        worker = build_runner(settings, handlers=handlers, observer=message_observer)
        yield Application(worker=worker, bitrix24=bitrix24, voximplant=voximplant)
