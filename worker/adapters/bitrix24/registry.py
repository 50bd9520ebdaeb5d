"""The portals this process serves: one gateway (and client) per portal domain.

Sharing matters: a portal's leaky bucket, its paused methods and its single-flight token
refresh only work if concurrent commands go through the same client, so a portal's entry
is built once and handed to every command for it.

A portal's client (its limiter, auth and transport) is built on its first command, not
when the portal is registered: a worker holding 10,000 registered portals pays for the
clients of those it serves, not for every one (docs/performance.md, "Registry memory").

Portals can change while the process runs (a store-backed registry reloads them):
:meth:`Bitrix24Portals.upsert` forgets only the changed portal's client and limiter (the
next command builds new ones), and :meth:`Bitrix24Portals.remove` forgets one. A command
that already holds the old gateway finishes with it; the next command gets the new one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import aiohttp

from worker.adapters.bitrix24.client import Bitrix24Client
from worker.adapters.bitrix24.gateway import PortalGateway
from worker.adapters.bitrix24.settings import Bitrix24Settings
from worker.adapters.bitrix24.tokens import TokenKeeper
from worker.adapters.upstream import NullObserver, RequestObserver
from worker.domain.repair import DEFAULT_BUDGET, OBSERVE, PortalPolicy
from worker.errors import BadInput
from worker.settings import PortalSettings

_POLICY_FIELDS = ("repair_policy", "repair_budget", "owns_voximplant_account")


def _connection(config: PortalSettings) -> PortalSettings:
    """The part of a portal's settings its client is built from (not its policy)."""
    return config.model_copy(update=dict.fromkeys(_POLICY_FIELDS))


def policy_of(config: PortalSettings) -> PortalPolicy:
    budget = config.repair_budget
    return PortalPolicy(
        mode=config.repair_policy,
        budget=DEFAULT_BUDGET if budget is None else budget,
        owns_voximplant_account=config.owns_voximplant_account,
    )


@dataclass(slots=True)
class _Entry:
    config: PortalSettings
    policy: PortalPolicy
    gateway: PortalGateway | None = None  # built on first use


class Bitrix24Portals:
    """Portal domain (case-insensitive) → gateway; an unknown portal is ``BadInput``."""

    def __init__(
        self,
        *,
        session: aiohttp.ClientSession,
        token_store: TokenKeeper,
        settings: Bitrix24Settings | None = None,
        observer: RequestObserver | None = None,
        portals: Mapping[str, PortalSettings] | None = None,
    ) -> None:
        self._session, self._store = session, token_store
        self._settings = settings or Bitrix24Settings()
        self._observer: RequestObserver = observer or NullObserver()
        self._entries: dict[str, _Entry] = {}
        for domain, config in (portals or {}).items():
            self.upsert(domain, config)

    def get(self, portal: str) -> PortalGateway:
        """The gateway of ``portal``."""
        domain = portal.lower()
        entry = self._entries.get(domain)
        if entry is None:
            raise BadInput(f"unknown portal {portal!r}", reason="unknown_portal")
        if entry.gateway is None:
            entry.gateway = PortalGateway(client=self._client(domain, entry.config))
        return entry.gateway

    def serves(self, portal: str) -> bool:
        """Whether ``portal`` is served now."""
        return portal.lower() in self._entries

    def policy(self, portal: str) -> PortalPolicy:
        """The portal's repair policy (observe for a portal not served)."""
        entry = self._entries.get(portal.lower())
        return OBSERVE if entry is None else entry.policy

    def upsert(self, portal: str, config: PortalSettings) -> bool:
        """Serve ``portal`` with ``config``; False when it already did, with the same config.

        A changed portal gets a new client at its next command (new credentials, a new
        bucket for a new plan); the other portals keep theirs. A change of policy alone
        keeps the client (and the state of its bucket).
        """
        domain = portal.lower()
        current = self._entries.get(domain)
        if current is not None and current.config == config:
            return False
        if current is not None and _connection(current.config) == _connection(config):
            self._entries[domain] = _Entry(config, policy_of(config), current.gateway)
            return True
        self._entries[domain] = _Entry(config, policy_of(config))
        return True

    def _client(self, domain: str, config: PortalSettings) -> Bitrix24Client:
        return Bitrix24Client(
            session=self._session,
            portal=domain,
            config=config,
            settings=self._settings,
            token_store=self._store,
            observer=self._observer,
        )

    def remove(self, portal: str) -> bool:
        """Stop serving ``portal``; False when it was not served."""
        return self._entries.pop(portal.lower(), None) is not None

    def domains(self) -> Iterable[str]:
        """The portals served now (lower case)."""
        return sorted(self._entries)
