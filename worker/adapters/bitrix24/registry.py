"""One client per configured portal, shared by every command for that portal.

Sharing matters: the portal's leaky bucket, its paused methods and its single-flight
token refresh only work if concurrent commands go through the same client.
"""

from __future__ import annotations

import aiohttp

from worker.adapters.bitrix24.client import Bitrix24Client
from worker.adapters.bitrix24.core import ClientTuning, portal_settings
from worker.adapters.bitrix24.observer import Bitrix24Observer, NullObserver
from worker.adapters.bitrix24.tokens import TokenStore
from worker.settings import Settings


class Bitrix24Clients:
    """Gives the client for a portal domain; an unknown portal is ``BadInput``."""

    def __init__(
        self,
        *,
        session: aiohttp.ClientSession,
        settings: Settings,
        observer: Bitrix24Observer | None = None,
        tuning: ClientTuning | None = None,
    ) -> None:
        self._session, self._settings = session, settings
        self._observer: Bitrix24Observer = observer or NullObserver()
        self._tuning = tuning
        self._store = TokenStore(settings.bitrix24_token_store)
        self._clients: dict[str, Bitrix24Client] = {}

    def for_portal(self, portal: str) -> Bitrix24Client:
        """The shared client of ``portal`` (case-insensitive domain)."""
        key = portal.lower()
        client = self._clients.get(key)
        if client is None:
            portal_settings(self._settings, key)  # raises BadInput for an unknown portal
            client = Bitrix24Client(
                session=self._session,
                settings=self._settings,
                portal=key,
                token_store=self._store,
                observer=self._observer,
                tuning=self._tuning,
            )
            self._clients[key] = client
        return client

    def requests_made(self, portal: str) -> int:
        """HTTP requests sent so far to a portal (0 if none, or never used)."""
        client = self._clients.get(portal.lower())
        return 0 if client is None else client.requests_made
