"""The whole sandbox: Bitrix24 portals and a Voximplant account over one set of registrations.

Used in-process by tests and ``sipline demo``, and served alone by ``sipline sandbox``.
:meth:`Sandbox.settings` gives what a worker needs to use it; :meth:`Sandbox.dotenv` the same
as a dotenv file.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from worker.sandbox.lifecycle import Served
from worker.sandbox.portal import PortalOptions, SandboxPortal
from worker.sandbox.registrations import AcceptRule, RegistrationStore
from worker.sandbox.voximplant import SandboxAccount


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
        auth: Literal["webhook", "oauth"] = "webhook",
        max_page_size: int = 1000,
    ) -> None:
        self.store = RegistrationStore(
            rules=rules, wait_seconds=wait_seconds, progress_seconds=progress_seconds
        )
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.portals = [
            SandboxPortal(registrations=self.store, options=options)
            for options in (portals or [PortalOptions()])
        ]
        self.account = SandboxAccount(
            store=self.store, directory=self.directory, max_page_size=max_page_size
        )
        self._host = host
        self._advertise = advertise_host
        self._auth = auth

    async def start(self, *, portal_ports: Sequence[int] = (), account_port: int = 0) -> None:
        for index, portal in enumerate(self.portals):
            port = portal_ports[index] if index < len(portal_ports) else 0
            await portal.start(self._host, port)
        await self.account.start(self._host, account_port)

    async def stop(self) -> None:
        await self.account.stop()
        for portal in self.portals:
            await portal.stop()

    def portal(self, domain: str | None = None) -> SandboxPortal:
        if domain is None:
            return self.portals[0]
        return next(p for p in self.portals if p.options.domain == domain)

    def _advertised(self, url: str) -> str:
        if self._advertise is None:
            return url
        return url.replace(f"//{self._host}:", f"//{self._advertise}:", 1).replace(
            "//127.0.0.1:", f"//{self._advertise}:", 1
        )

    def portal_entries(self) -> dict[str, Any]:
        entries = {}
        for portal in self.portals:
            entry = portal.portal_settings(auth=self._auth)
            if "webhook_url" in entry:
                entry["webhook_url"] = self._advertised(entry["webhook_url"])
            if "oauth" in entry:
                for key in ("rest_url", "server_url"):
                    entry["oauth"][key] = self._advertised(entry["oauth"][key])
            entries[portal.options.domain] = entry
        return entries

    def settings(self) -> dict[str, Any]:
        """Keyword arguments for ``Settings`` that point a worker at this sandbox."""
        return {
            "portals": self.portal_entries(),
            "voximplant_credentials": self.account.credentials_path,
            "voximplant_api_url": self._advertised(self.account.api_url),
            "bitrix24_token_store": self.directory / "oauth-tokens.json",
        }

    def dotenv(self) -> str:
        """The dotenv file ``sipline run --env-file`` reads (it holds secrets)."""
        values = self.settings()
        lines = [
            "# written by `sipline sandbox`: points a worker at the sandbox; keep it private",
            f"SIPLINE_PORTALS='{json.dumps(values['portals'], separators=(',', ':'))}'",
            f"VOXIMPLANT_CREDENTIALS={values['voximplant_credentials']}",
            f"SIPLINE_VOXIMPLANT_API_URL={values['voximplant_api_url']}",
            f"SIPLINE_BITRIX24_TOKEN_STORE={values['bitrix24_token_store']}",
        ]
        return "\n".join(lines) + "\n"
