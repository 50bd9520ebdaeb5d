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
from typing import Any

from aiohttp import web

from worker.sandbox.lifecycle import Served
from worker.sandbox.portal.app import MaskedAccessLogger, build_app
from worker.sandbox.portal.limits import LeakyBucket
from worker.sandbox.portal.lines import LineBook
from worker.sandbox.portal.oauth import IssuedTokens, OAuthServer
from worker.sandbox.portal.options import Counters, Faults, PortalOptions
from worker.sandbox.portal.state import PortalState
from worker.sandbox.registrations import RegistrationStore

logger = logging.getLogger(__name__)


class SandboxPortal(Served):
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
        runner = web.AppRunner(
            self.app,
            access_log_class=MaskedAccessLogger,
            access_log=logging.getLogger("worker.sandbox.portal.access"),
        )
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        self._runner = runner
        bound_host, bound_port = runner.addresses[0][:2]
        self._base_url = f"http://{bound_host}:{bound_port}"
        logger.info("sandbox portal %s on %s", self.options.domain, self._base_url)
        return self._base_url

    async def stop(self) -> None:
        """Stop serving; safe to call twice."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    # --- addresses ----------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        if self._base_url is None:
            raise RuntimeError("the sandbox portal is not started")
        return self._base_url

    @property
    def webhook_url(self) -> str:
        """The inbound webhook base URL (holds the secret code)."""
        o = self.options
        return f"{self.base_url}/rest/{o.webhook_user_id}/{o.webhook_code}/"

    @property
    def rest_url(self) -> str:
        """The OAuth REST endpoint: ``/rest/METHOD`` with ``auth``."""
        return f"{self.base_url}/rest/"

    @property
    def token_url(self) -> str:
        """The OAuth token endpoint (on Bitrix24 it is oauth.bitrix24.tech)."""
        return f"{self.base_url}/oauth/token/"

    # --- state, for tests -----------------------------------------------------------------
    @property
    def options(self) -> PortalOptions:
        return self.state.options

    @property
    def faults(self) -> Faults:
        return self.state.faults

    @property
    def counters(self) -> Counters:
        return self.state.counters

    @property
    def bucket(self) -> LeakyBucket:
        return self.state.bucket

    @property
    def lines(self) -> LineBook:
        return self.state.lines

    @property
    def oauth(self) -> OAuthServer:
        return self.state.oauth

    def set_faults(self, **changes: float) -> None:
        """Change injected faults: latency, error_500, html, drop, query_limit."""
        self.state.faults.update(changes)

    def grant_tokens(self) -> IssuedTokens:
        """A new OAuth token pair, as installing the application gives."""
        return self.state.oauth.grant()

    def expire_access_tokens(self) -> None:
        self.state.oauth.expire_access_tokens()

    def portal_settings(
        self, *, auth: str = "webhook", tokens: IssuedTokens | None = None
    ) -> dict[str, Any]:
        """This portal as a ``PortalSettings`` JSON object for ``SIPLINE_PORTALS``."""
        o = self.options
        entry: dict[str, Any] = {
            "plan": "custom",
            "bucket_capacity": self.bucket.capacity,
            "drain_per_second": self.bucket.drain_per_second,
        }
        if auth == "webhook":
            entry["webhook_url"] = self.webhook_url
            return entry
        pair = tokens or self.grant_tokens()
        entry["oauth"] = {
            "client_id": o.oauth_client_id,
            "client_secret": o.oauth_client_secret,
            "access_token": pair.access_token,
            "refresh_token": pair.refresh_token,
            "rest_url": self.rest_url,
            "server_url": self.token_url,
        }
        return entry
