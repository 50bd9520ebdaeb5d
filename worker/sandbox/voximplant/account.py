"""The sandbox Voximplant account: a key, a token verifier and the Management API over HTTP.

Usable in-process by tests and wired by ``sipline sandbox``::

    account = SandboxAccount(store=store, directory=tmp_path)
    api_url = await account.start()          # http://127.0.0.1:PORT/platform_api/
    ...                                      # point VoximplantClient at api_url and
    ...                                      # account.credentials_path
    await account.stop()

It serves ``GetSipRegistrations`` from the same :class:`RegistrationStore` as the sandbox
portal, so a line created there shows up here under its ``REG_ID``, and ``SetAccountInfo`` /
``GetAccountInfo`` for the callback URL and salt: with a URL set, the account POSTs
``sip_registration_fail`` / ``sip_registration_recovered`` callbacks there
(:mod:`worker.sandbox.voximplant.callbacks`), signed with the account's ``api_key``, a
secret kept beside ``credentials.json`` (file ``api_key``, mode 0600).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from worker.sandbox.lifecycle import Served
from worker.sandbox.registrations import RegistrationStore
from worker.sandbox.voximplant.app import Counters, build_app
from worker.sandbox.voximplant.callbacks import AccountCallbacks, Identity
from worker.sandbox.voximplant.faults import FaultInjector
from worker.sandbox.voximplant.keys import SandboxKey, ensure_api_key, ensure_service_account
from worker.sandbox.voximplant.verifier import TokenVerifier

__all__ = ["DEFAULT_ACCOUNT_ID", "SandboxAccount", "dotenv_lines"]

DEFAULT_ACCOUNT_ID = 8_800_555
DEFAULT_ACCOUNT_EMAIL = "sandbox@sipline.test"
DEFAULT_ACCOUNT_NAME = "sipline-sandbox"


def dotenv_lines(credentials_path: Path, api_url: str) -> list[str]:
    """The settings that point the worker at a sandbox account."""
    return [
        f"VOXIMPLANT_CREDENTIALS={_dotenv_value(str(credentials_path))}",
        f"SIPLINE_VOXIMPLANT_API_URL={_dotenv_value(api_url)}",
    ]


def _dotenv_value(value: str) -> str:
    if value and all(c.isalnum() or c in "/._-:@+,=" for c in value):
        return value
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


class SandboxAccount(Served):
    """One Voximplant account with one service-account key, served over loopback HTTP."""

    def __init__(
        self,
        *,
        store: RegistrationStore,
        directory: Path,
        account_id: int = DEFAULT_ACCOUNT_ID,
        account_email: str = DEFAULT_ACCOUNT_EMAIL,
        private_key: RSAPrivateKey | None = None,
        default_page_size: int = 20,
        max_page_size: int = 1000,
        clock: Callable[[], float] = time.time,
        leeway: float = 0.0,
        account_name: str = DEFAULT_ACCOUNT_NAME,
        api_key: str | None = None,
        callback_backoff: float = 0.5,
    ) -> None:
        if not 1 <= default_page_size <= max_page_size:
            raise ValueError("need 1 <= default_page_size <= max_page_size")
        self.store = store
        self.directory = Path(directory)
        self.account_id = account_id
        self.account_email = account_email
        self.default_page_size = default_page_size
        self.max_page_size = max_page_size
        self.clock = clock
        self.leeway = leeway
        self.faults = FaultInjector()
        self.counters = Counters()
        self._private_key = private_key
        self._key: SandboxKey | None = None
        self._verifier: TokenVerifier | None = None
        self._runner: web.AppRunner | None = None
        self._api_url: str | None = None
        self.account_name = account_name
        self.api_key = api_key or ensure_api_key(self.directory)
        self.callbacks = AccountCallbacks(
            store=store,
            identity=Identity(account_id, account_name, account_email, self.api_key),
            backoff=callback_backoff,
        )

    def __repr__(self) -> str:
        return f"SandboxAccount(account_id={self.account_id}, api_url={self._api_url!r})"

    # --- the key --------------------------------------------------------------------------
    def prepare(self) -> SandboxKey:
        """Create or reuse the key and write ``credentials.json`` (idempotent)."""
        if self._key is None:
            self._key = ensure_service_account(
                self.directory,
                account_id=self.account_id,
                account_email=self.account_email,
                private_key=self._private_key,
            )
            self._verifier = TokenVerifier(
                account_id=self.account_id,
                keys={self._key.key_id: self._key.public_key},
                clock=self.clock,
                leeway=self.leeway,
            )
        return self._key

    @property
    def key_id(self) -> str:
        return self.prepare().key_id

    @property
    def credentials_path(self) -> Path:
        """The ``credentials.json`` the worker should be given."""
        return self.prepare().credentials_path

    @property
    def verifier(self) -> TokenVerifier:
        self.prepare()
        assert self._verifier is not None
        return self._verifier

    # --- serving ----------------------------------------------------------------------------
    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen and return the API base URL (``…/platform_api/``)."""
        if self._api_url is not None:
            return self._api_url
        self.prepare()
        runner = web.AppRunner(build_app(self), access_log=None, shutdown_timeout=2.0)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        self._runner = runner
        bound_host, bound_port = runner.addresses[0][:2]
        self._api_url = f"http://{bound_host}:{bound_port}/platform_api/"
        await self.callbacks.start()
        return self._api_url

    async def stop(self) -> None:
        """Stop listening; safe to call twice."""
        await self.callbacks.stop()
        runner, self._runner, self._api_url = self._runner, None, None
        if runner is not None:
            await runner.cleanup()

    # --- callbacks ----------------------------------------------------------------------------
    def set_callback(self, url: str | None, salt: str | None = None) -> None:
        """As ``SetAccountInfo`` with ``callback_url`` / ``callback_salt``."""
        self.callbacks.configure(url, salt)

    @property
    def callback_url(self) -> str | None:
        return self.callbacks.url

    @property
    def callback_salt(self) -> str:
        return self.callbacks.salt

    @property
    def api_url(self) -> str:
        """The base URL the client should use; only while started."""
        if self._api_url is None:
            raise RuntimeError("the sandbox account is not started")
        return self._api_url

    @property
    def admin_url(self) -> str:
        """Where the ``/_sandbox/…`` admin routes live."""
        return self.api_url.removesuffix("platform_api/") + "_sandbox/"

    # --- divergence and counters --------------------------------------------------------------
    def diverge(self, reg_id: int, **changes: object) -> None:
        """Make this account report something other than the truth for one registration.

        Fields: ``deactivated``, ``successful``, ``status_code``, ``error_message``,
        ``proxy``, ``sip_username``, ``deleted``, ``sticky`` (see
        ``worker.sandbox.registrations``).
        """
        self.store.diverge(reg_id, **changes)

    @property
    def requests(self) -> int:
        """API requests received (faulted ones included; admin requests not)."""
        return self.counters.requests

    @property
    def signatures_verified(self) -> int:
        """Token signatures checked."""
        return self._verifier.signatures_verified if self._verifier is not None else 0

    def stats(self) -> dict[str, int]:
        return {
            "requests": self.requests,
            "signatures_verified": self.signatures_verified,
            "faults_served": self.faults.served,
            **self.callbacks.stats.as_dict(),
        }

    def dotenv_lines(self) -> list[str]:
        """``VOXIMPLANT_CREDENTIALS`` and ``SIPLINE_VOXIMPLANT_API_URL`` for this account."""
        return dotenv_lines(self.credentials_path, self.api_url)
