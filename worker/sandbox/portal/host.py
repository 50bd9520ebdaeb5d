"""Many sandbox portals on one loopback port, told apart by a path prefix.

A real portal is its own host; a test of a hundred portals cannot have a hundred
hostnames that resolve to loopback, and a port per portal costs a listening socket and an
aiohttp runner each.  So every portal lives under ``http://HOST:PORT/p/<domain>/``: its
webhook URL is ``…/p/<domain>/rest/<user>/<code>/``, its OAuth REST URL ``…/p/<domain>/rest/``.
The worker's Bitrix24 client only appends ``METHOD`` to those base URLs, so nothing in it
knows the portals share a port.  ``/oauth/token/`` is shared, like Bitrix24's OAuth server.

Each portal keeps its own lines, leaky bucket, operating meter, tokens, faults and
counters; the registrations are shared with the sandbox Voximplant account as usual::

    async with PortalHost(registrations=store, portals=[PortalOptions(domain=d), …]) as host:
        host.portals[0].webhook_url   # http://127.0.0.1:PORT/p/a.bitrix24.test/rest/1/CODE/
        host.counters()               # every portal's counters in one dict
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from aiohttp import web

from worker.sandbox.lifecycle import Served
from worker.sandbox.portal.app import build_host_app, listen
from worker.sandbox.portal.handle import PortalHandle
from worker.sandbox.portal.options import Faults, PortalOptions, totals
from worker.sandbox.portal.state import PortalState
from worker.sandbox.registrations import RegistrationStore

logger = logging.getLogger(__name__)

PATH_PREFIX = "/p/"


class HostedPortal(PortalHandle):
    """One portal of a :class:`PortalHost`."""

    def __init__(self, host: PortalHost, state: PortalState) -> None:
        self._host = host
        self.state = state

    @property
    def base_url(self) -> str:
        return f"{self._host.origin}{PATH_PREFIX}{self.state.options.domain}"

    @property
    def token_url(self) -> str:
        """The shared token endpoint: it finds the portal by the refresh token."""
        return f"{self._host.origin}/oauth/token/"


class PortalHost(Served):
    """Any number of portals served by one aiohttp application on one port."""

    def __init__(
        self,
        *,
        registrations: RegistrationStore,
        portals: Iterable[PortalOptions] = (),
        faults: Faults | None = None,
    ) -> None:
        self.registrations = registrations
        self._states: dict[str, PortalState] = {}
        self.portals: list[HostedPortal] = []
        self.app = build_host_app(self._states)
        self._runner: web.AppRunner | None = None
        self._origin: str | None = None
        for options in portals:
            self.add(options, faults=Faults(**faults.as_dict()) if faults else None)

    def add(self, options: PortalOptions, *, faults: Faults | None = None) -> HostedPortal:
        """Serve one more portal (also while running)."""
        domain = options.domain.lower()
        if domain in self._states:
            raise ValueError(f"portal {domain} is already served here")
        options.domain = domain
        state = PortalState(options=options, registrations=self.registrations, faults=faults)
        self._states[domain] = state
        hosted = HostedPortal(self, state)
        self.portals.append(hosted)
        return hosted

    def portal(self, domain: str) -> HostedPortal:
        wanted = domain.lower()
        for hosted in self.portals:
            if hosted.domain == wanted:
                return hosted
        raise KeyError(domain)

    # --- lifecycle ----------------------------------------------------------------------
    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on ``host:port`` (0: any free port); returns the origin URL."""
        if self._runner is not None:
            return self.origin
        self._runner, self._origin = await listen(self.app, host, port)
        logger.info("sandbox portal host: %d portals on %s", len(self.portals), self._origin)
        return self._origin

    async def stop(self) -> None:
        """Stop serving; safe to call twice."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    @property
    def origin(self) -> str:
        if self._origin is None:
            raise RuntimeError("the sandbox portal host is not started")
        return self._origin

    @property
    def admin_url(self) -> str:
        """``/_sandbox/host/…``: every portal's counters and faults at once."""
        return f"{self.origin}/_sandbox/host/"

    # --- every portal ---------------------------------------------------------------------
    def counters(self) -> dict[str, Any]:
        """``{"portals": {domain: counters}, "totals": …}``, as ``/_sandbox/host/counters``."""
        portals = {domain: state.snapshot() for domain, state in self._states.items()}
        return {"portals": portals, "totals": totals(portals.values())}

    def set_faults(self, **changes: float) -> None:
        """The same faults (e.g. ``latency=0.05``) on every portal."""
        Faults().update(changes)
        for state in self._states.values():
            state.faults.update(changes)
