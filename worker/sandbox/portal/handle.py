"""What a test, the CLI or a benchmark holds of one sandbox portal, wherever it is served.

A portal served on its own port (:class:`~worker.sandbox.portal.server.SandboxPortal`) and a
portal served beside many others under a path prefix
(:class:`~worker.sandbox.portal.host.HostedPortal`) answer the same questions: their URLs,
their state, their counters.  Only :attr:`PortalHandle.base_url` and
:attr:`PortalHandle.token_url` differ.
"""

from __future__ import annotations

from typing import Any

from worker.sandbox.portal.limits import LeakyBucket
from worker.sandbox.portal.lines import LineBook
from worker.sandbox.portal.oauth import IssuedTokens, OAuthServer
from worker.sandbox.portal.options import Counters, Faults, PortalOptions
from worker.sandbox.portal.state import PortalState


class PortalHandle:
    """One portal's addresses and state."""

    state: PortalState

    # --- addresses ----------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        """Everything of the portal lives under this URL (``…/rest/``, ``…/_sandbox/``)."""
        raise NotImplementedError

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

    @property
    def admin_url(self) -> str:
        """The portal's ``/_sandbox/`` admin routes (counters, faults, bucket, install)."""
        return f"{self.base_url}/_sandbox/"

    # --- state, for tests -----------------------------------------------------------------
    @property
    def domain(self) -> str:
        return self.state.options.domain

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
        """Change injected faults: latency, error_500, html, drop, query_limit, stall."""
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
