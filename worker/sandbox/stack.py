"""The whole sandbox: Bitrix24 portals and a Voximplant account over one set of registrations.

Used in-process by tests and ``sipline demo``, and served alone by ``sipline sandbox``.
:meth:`Sandbox.settings` gives what a worker needs to use it; :meth:`Sandbox.dotenv` the same
as a dotenv file; :meth:`Sandbox.describe` the same and every admin URL as JSON, for a test
that drives the sandbox in another process.

Portals are served one per port (the default, as a real portal is its own host) or, with
``one_port=True``, all on one port under ``/p/<domain>/`` (:mod:`worker.sandbox.portal.host`):
the cheap way to serve hundreds.  :func:`many_portals` starts N of them and the account::

    async with many_portals(30, directory=tmp_path, latency=0.05) as sandbox:
        settings = Settings(**sandbox.settings(), ...)
        sandbox.portal_counters()["totals"]["query_limit_rejections"]
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from worker.sandbox.lifecycle import Served
from worker.sandbox.portal import PortalOptions, SandboxPortal
from worker.sandbox.portal.handle import PortalHandle
from worker.sandbox.portal.host import PortalHost
from worker.sandbox.portal.oauth import IssuedTokens
from worker.sandbox.portal.options import ENTERPRISE_BUCKET, STANDARD_BUCKET, totals
from worker.sandbox.registrations import AcceptRule, RegistrationStore
from worker.sandbox.voximplant import SandboxAccount

DOMAIN_PATTERN = "p{n:04d}.bitrix24.test"

Auth = Literal["webhook", "oauth", "mixed"]
"""How the worker's settings authenticate each portal: ``mixed`` gives every second portal
(the 2nd, 4th, …) OAuth and the others a webhook, so one run exercises both."""


def portal_domains(count: int, pattern: str = DOMAIN_PATTERN) -> list[str]:
    """``count`` portal domains: p0001.bitrix24.test, p0002.bitrix24.test, …"""
    return [pattern.format(n=n) for n in range(1, count + 1)]


class Sandbox(Served):
    def __init__(
        self,
        *,
        directory: Path,
        portals: Sequence[PortalOptions] = (),
        rules: list[AcceptRule] | None = None,
        wait_seconds: float = 0.3,
        progress_seconds: float = 0.7,
        host: str = "127.0.0.1",
        advertise_host: str | None = None,
        auth: Auth = "webhook",
        max_page_size: int = 1000,
        one_port: bool = False,
        account_key: RSAPrivateKey | None = None,
    ) -> None:
        self.store = RegistrationStore(
            rules=rules, wait_seconds=wait_seconds, progress_seconds=progress_seconds
        )
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        wanted = list(portals or [PortalOptions()])
        self.host: PortalHost | None = None
        self.portals: list[PortalHandle]
        if one_port:
            self.host = PortalHost(registrations=self.store, portals=wanted)
            self.portals = list(self.host.portals)
        else:
            self.portals = [SandboxPortal(registrations=self.store, options=o) for o in wanted]
        self.account = SandboxAccount(
            store=self.store,
            directory=self.directory,
            max_page_size=max_page_size,
            private_key=account_key,
        )
        self._host = host
        self._advertise = advertise_host
        self._auth = auth
        self._granted: dict[str, IssuedTokens] = {}

    async def start(self, *, portal_ports: Sequence[int] = (), account_port: int = 0) -> None:
        """Listen: each portal on ``portal_ports[i]`` (or the host on ``portal_ports[0]``)."""
        if self.host is not None:
            await self.host.start(self._host, portal_ports[0] if portal_ports else 0)
        for index, portal in enumerate(self.portals_on_own_ports()):
            port = portal_ports[index] if index < len(portal_ports) else 0
            await portal.start(self._host, port)
        await self.account.start(self._host, account_port)

    async def stop(self) -> None:
        await self.account.stop()
        if self.host is not None:
            await self.host.stop()
        for portal in self.portals_on_own_ports():
            await portal.stop()

    def portals_on_own_ports(self) -> list[SandboxPortal]:
        """The portals that listen on a port of their own (none when they share one)."""
        return [p for p in self.portals if isinstance(p, SandboxPortal)]

    def portal(self, domain: str | None = None) -> PortalHandle:
        if domain is None:
            return self.portals[0]
        return next(p for p in self.portals if p.options.domain == domain.lower())

    def portal_counters(self) -> dict[str, Any]:
        """Every portal's counters and their totals (``/_sandbox/host/counters``'s shape)."""
        portals = {p.domain: p.state.snapshot() for p in self.portals}
        return {"portals": portals, "totals": totals(portals.values())}

    def set_faults(self, **changes: float) -> None:
        """The same faults (``latency=0.05`` …) on every portal."""
        for portal in self.portals:
            portal.set_faults(**changes)

    def _advertised(self, url: str) -> str:
        if self._advertise is None:
            return url
        return url.replace(f"//{self._host}:", f"//{self._advertise}:", 1).replace(
            "//127.0.0.1:", f"//{self._advertise}:", 1
        )

    def portal_entries(self) -> dict[str, Any]:
        """``SIPLINE_PORTALS``; with OAuth, each portal's first pair, the same every call."""
        entries = {}
        for index, portal in enumerate(self.portals):
            auth = self.auth_of(index)
            tokens = None
            if auth == "oauth":
                tokens = self._granted.get(portal.domain) or portal.grant_tokens()
                self._granted[portal.domain] = tokens
            entry = portal.portal_settings(auth=auth, tokens=tokens)
            if "webhook_url" in entry:
                entry["webhook_url"] = self._advertised(entry["webhook_url"])
            if "oauth" in entry:
                for key in ("rest_url", "server_url"):
                    entry["oauth"][key] = self._advertised(entry["oauth"][key])
            entries[portal.options.domain] = entry
        return entries

    def auth_of(self, index: int) -> Literal["webhook", "oauth"]:
        """How the ``index``-th portal is authenticated in the worker's settings."""
        if self._auth == "mixed":
            return "oauth" if index % 2 else "webhook"
        return self._auth

    def application(self) -> dict[str, str]:
        """``app_client_id``, ``app_client_secret``, ``app_oauth_server_url`` and
        ``app_rest_url`` of the application the portals install (``sandbox-ctl install``),
        when the sandbox runs OAuth and every portal has the same one; else nothing."""
        apps = {(p.options.oauth_client_id, p.options.oauth_client_secret) for p in self.portals}
        if self._auth != "oauth" or len(apps) != 1:
            return {}
        client_id, client_secret = apps.pop()
        return {
            "app_client_id": client_id,
            "app_client_secret": client_secret,
            "app_oauth_server_url": self._advertised(self.portals[0].token_url),
            # its portals are not at their domains: /p/DOMAIN/rest/ of the sandbox's host
            "app_rest_url": self._advertised(
                self.portals[0].rest_url.replace(self.portals[0].domain, "{domain}")
            ),
        }

    def settings(self) -> dict[str, Any]:
        """Keyword arguments for ``Settings`` that point a worker at this sandbox."""
        return {
            "portals": self.portal_entries(),
            "voximplant_credentials": self.account.credentials_path,
            "voximplant_api_url": self._advertised(self.account.api_url),
            "bitrix24_token_store": self.directory / "oauth-tokens.json",
            **self.application(),
        }

    def describe(self) -> dict[str, Any]:
        """JSON for another process: the worker's settings and every admin URL (secrets!)."""
        values = self.settings()
        return {
            "settings": {
                **values,
                "voximplant_credentials": str(values["voximplant_credentials"]),
                "bitrix24_token_store": str(values["bitrix24_token_store"]),
            },
            "portals": {
                p.domain: {
                    "base_url": self._advertised(p.base_url),
                    "admin_url": self._advertised(p.admin_url),
                }
                for p in self.portals
            },
            "portal_host_admin_url": (
                self._advertised(self.host.admin_url) if self.host is not None else None
            ),
            "voximplant": {
                "api_url": self._advertised(self.account.api_url),
                "admin_url": self._advertised(self.account.admin_url),
                "account_id": self.account.account_id,
                "api_key": self.account.api_key,
                "callback_url": self.account.callback_url,
                "callback_salt": self.account.callback_salt,
            },
        }

    def dotenv(self) -> str:
        """The dotenv file ``sipline run --env-file`` reads (it holds secrets).

        Besides the worker's settings it names the account's callback secrets
        (``SIPLINE_VOXIMPLANT_API_KEY``, ``SIPLINE_VOXIMPLANT_CALLBACK_SALT``), which a worker
        that verifies Voximplant's callbacks needs.
        """
        values = self.settings()
        lines = [
            "# written by `sipline sandbox`: points a worker at the sandbox; keep it private",
            f"SIPLINE_PORTALS='{json.dumps(values['portals'], separators=(',', ':'))}'",
            f"VOXIMPLANT_CREDENTIALS={values['voximplant_credentials']}",
            f"SIPLINE_VOXIMPLANT_API_URL={values['voximplant_api_url']}",
            f"SIPLINE_BITRIX24_TOKEN_STORE={values['bitrix24_token_store']}",
            f"SIPLINE_VOXIMPLANT_API_KEY={self.account.api_key}",
        ]
        if self.account.callback_salt:
            lines.append(f"SIPLINE_VOXIMPLANT_CALLBACK_SALT='{self.account.callback_salt}'")
        lines += [f"SIPLINE_{name.upper()}={value}" for name, value in self.application().items()]
        return "\n".join(lines) + "\n"


@asynccontextmanager
async def many_portals(
    count: int,
    *,
    directory: Path,
    plan: Literal["standard", "enterprise"] = "standard",
    bucket: tuple[int, float] | None = None,
    latency: float = 0.0,
    auth: Auth = "webhook",
    token_ttl: float = 3600.0,
    cloud_pbx_limit: int = 5,
    wait_seconds: float = 0.1,
    progress_seconds: float = 0.1,
    domains: Sequence[str] | None = None,
    account_key: RSAPrivateKey | None = None,
) -> AsyncIterator[Sandbox]:
    """``count`` portals on one port and the Voximplant account, started; stopped on exit.

    Each portal has the plan's bucket (standard 50 @ 2/s, enterprise 250 @ 5/s) unless
    ``bucket`` says otherwise, ``latency`` seconds added to every request, and its own
    counters (``sandbox.portal_counters()``).  ``account_key`` lets many sandboxes share
    one pre-made RSA key (making one takes a second or more).
    """
    capacity, drain = bucket or (ENTERPRISE_BUCKET if plan == "enterprise" else STANDARD_BUCKET)
    names = list(domains) if domains is not None else portal_domains(count)
    options = [
        PortalOptions(
            domain=domain,
            bucket_capacity=capacity,
            drain_per_second=drain,
            access_token_ttl=token_ttl,
            cloud_pbx_limit=cloud_pbx_limit,
        )
        for domain in names
    ]
    sandbox = Sandbox(
        directory=directory,
        portals=options,
        wait_seconds=wait_seconds,
        progress_seconds=progress_seconds,
        auth=auth,
        one_port=True,
        account_key=account_key,
    )
    if latency:
        sandbox.set_faults(latency=latency)
    async with sandbox:
        yield sandbox
