"""A sandbox portal on its own loopback port, as a real portal is its own host.

Usable in-process (tests, benchmarks)::

    store = RegistrationStore()
    async with SandboxPortal(registrations=store, options=PortalOptions(...)) as portal:
        portal.webhook_url     # http://127.0.0.1:PORT/rest/1/CODE/
        portal.set_faults(html=0.2)
        portal.counters.requests
"""

from __future__ import annotations

import logging

from aiohttp import web

from worker.sandbox.lifecycle import Served
from worker.sandbox.portal.app import build_app, listen
from worker.sandbox.portal.handle import PortalHandle
from worker.sandbox.portal.options import Faults, PortalOptions
from worker.sandbox.portal.state import PortalState
from worker.sandbox.registrations import RegistrationStore

logger = logging.getLogger(__name__)


class SandboxPortal(PortalHandle, Served):
    """One Bitrix24 portal that behaves as documented, served over loopback HTTP."""

    def __init__(
        self,
        *,
        registrations: RegistrationStore,
        options: PortalOptions | None = None,
        faults: Faults | None = None,
    ) -> None:
        self.state = PortalState(
            options=options or PortalOptions(), registrations=registrations, faults=faults
        )
        self.app = build_app(self.state)
        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None

    # --- lifecycle ----------------------------------------------------------------------
    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on ``host:port`` (0: any free port); returns the base URL."""
        if self._runner is not None:
            return self.base_url
        self._runner, self._base_url = await listen(self.app, host, port)
        logger.info("sandbox portal %s on %s", self.options.domain, self._base_url)
        return self._base_url

    async def stop(self) -> None:
        """Stop serving; safe to call twice."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    @property
    def base_url(self) -> str:
        if self._base_url is None:
            raise RuntimeError("the sandbox portal is not started")
        return self._base_url
