"""Account callbacks: the sandbox account POSTs ``sip_registration_fail`` and
``sip_registration_recovered`` to the URL set on it, signed as Voximplant signs them.

What Voximplant documents (api-facts.md, "Account callbacks"): the URL and salt are set with
``SetAccountInfo`` (``callback_url``, ``callback_salt``); the body is JSON
``{"callbacks": [AccountCallback, …]}`` (one request may carry several); each callback has
``callback_id`` (a sequence number), ``type``, ``account_id``, ``account_name``,
``account_email``, ``hash`` = md5(callback_salt + account_id + api_key + callback_id) in hex,
and one field named after its type::

    "sip_registration_fail": {"sip_registrations": [
        {"sip_registration_id": 150001, "status_code": "401", "error_message": "Unauthorized"}]}
    "sip_registration_recovered": {"sip_registrations": [{"sip_registration_id": 150001}]}

When: a registration *fails* when Voximplant starts reporting it unsuccessful and settled
(its first attempt fails, a re-registration fails, or a divergence makes it so); it
*recovers* when it is reported successful again after a reported failure.  Changes are seen
as they happen (the store tells its listeners) and when a registration settles (a timer).

Delivery is not documented beyond "answer 200": the sandbox keeps undelivered callbacks in
order, resends the same ones (same ``callback_id``) with new ones appended until the
receiver answers 200, waiting ``backoff`` seconds doubled per failure up to
``max_backoff``.  Callbacks of one type found in one pass are grouped into one callback.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import logging
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal

import aiohttp

from worker.sandbox.registrations import RegistrationStore

__all__ = ["AccountCallbacks", "CallbackStats", "callback_hash", "health"]

log = logging.getLogger(__name__)

Health = Literal["gone", "pending", "ok", "fail"]
FAIL = "sip_registration_fail"
RECOVERED = "sip_registration_recovered"
MAX_PER_REQUEST = 50
MAX_OUTBOX = 10_000
SETTLE_MARGIN = 0.01


def callback_hash(salt: str, account_id: int, api_key: str, callback_id: int) -> str:
    """md5(callback_salt + account_id + api_key + callback_id), hex: the callback's proof."""
    text = f"{salt}{account_id}{api_key}{callback_id}"
    return hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest()


def health(store: RegistrationStore, reg_id: int) -> tuple[Health, dict[str, Any]]:
    """How Voximplant reports the registration now, and its fail item if it failed."""
    reg = store.get(reg_id)
    view = store.voximplant_view(reg) if reg is not None else None
    if view is None:
        return "gone", {}
    if view.in_progress:
        return "pending", {}
    if view.successful:
        return "ok", {}
    item: dict[str, Any] = {
        "sip_registration_id": reg_id,
        "status_code": "" if view.status_code is None else str(view.status_code),
    }
    if view.error_message:
        item["error_message"] = view.error_message
    return "fail", item


@dataclass(slots=True)
class CallbackStats:
    """What the account's callbacks did; ``pending`` are built and not yet acknowledged."""

    made: int = 0
    delivered: int = 0
    requests: int = 0
    failed_requests: int = 0
    dropped: int = 0
    pending: int = 0
    last_status: int = 0
    by_type: dict[str, int] = field(default_factory=lambda: {FAIL: 0, RECOVERED: 0})

    def as_dict(self) -> dict[str, int]:
        return {
            "callbacks_made": self.made,
            "callbacks_delivered": self.delivered,
            "callback_requests": self.requests,
            "callback_failed_requests": self.failed_requests,
            "callbacks_dropped": self.dropped,
            "callbacks_pending": self.pending,
            "callback_last_status": self.last_status,
            "callbacks_fail": self.by_type[FAIL],
            "callbacks_recovered": self.by_type[RECOVERED],
        }


@dataclass(frozen=True, slots=True)
class Identity:
    """Who the callbacks come from, and the secret they are signed with."""

    account_id: int
    account_name: str
    account_email: str
    api_key: str


class AccountCallbacks:
    """Watches registrations, builds callbacks and delivers them to ``url``."""

    def __init__(
        self,
        *,
        store: RegistrationStore,
        identity: Identity,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        timeout: float = 10.0,
    ) -> None:
        self.store = store
        self.identity = identity
        self.url: str | None = None
        self.salt = ""
        self.backoff, self.max_backoff, self.timeout = backoff, max_backoff, timeout
        self.stats = CallbackStats()
        self._ids = itertools.count(1)
        self._seen: dict[int, Health] = {}
        self._failed: set[int] = set()  # failures reported and not yet recovered
        self._found: list[tuple[str, dict[str, Any]]] = []
        self._outbox: deque[dict[str, Any]] = deque()
        self._wake = asyncio.Event()
        self._timers: dict[int, asyncio.TimerHandle] = {}
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None
        store.listen(self.check)

    # --- settings --------------------------------------------------------------------
    def configure(self, url: str | None, salt: str | None) -> None:
        """``SetAccountInfo``: None leaves a value as it is, ``""`` clears the URL."""
        if url is not None:
            self.url = url or None
        if salt is not None:
            self.salt = salt
        self._wake.set()

    # --- watching --------------------------------------------------------------------
    def seen(self, reg_id: int) -> Health | None:
        """How the account last saw the registration (None: never, or gone)."""
        return self._seen.get(reg_id)

    def check(self, reg_id: int) -> None:
        """Look at one registration now (and again when it settles)."""
        now, item = health(self.store, reg_id)
        before = self._seen.get(reg_id)
        if now == "gone":
            self._seen.pop(reg_id, None)
            self._failed.discard(reg_id)
        else:
            self._seen[reg_id] = now
        if now == "fail" and before != "fail":
            self._failed.add(reg_id)
            self._tell(FAIL, item)
        elif now == "ok" and reg_id in self._failed:
            self._failed.discard(reg_id)
            self._tell(RECOVERED, {"sip_registration_id": reg_id})
        self._schedule(reg_id, now)
        if self._found:
            self._wake.set()

    def _tell(self, kind: str, item: dict[str, Any]) -> None:
        """Queue a change for the next callback, if a URL is set now (Voximplant sends
        nothing without one, and does not send later what happened before it was set)."""
        if self.url is not None:
            self._found.append((kind, item))

    def _schedule(self, reg_id: int, now: Health) -> None:
        timer = self._timers.pop(reg_id, None)
        if timer is not None:
            timer.cancel()
        if now != "pending":
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # not serving yet: start() looks at every registration
        delay = self.store.settles_in(reg_id) + SETTLE_MARGIN
        self._timers[reg_id] = loop.call_later(delay, self.check, reg_id)

    # --- building ----------------------------------------------------------------------
    def _build(self) -> None:
        """Turn what was found into callbacks, one per type and pass, numbered in order."""
        found, self._found = self._found, []
        if self.url is None:
            return  # nobody to tell: Voximplant sends nothing without a callback URL
        groups: dict[str, list[dict[str, Any]]] = {}
        for kind, item in found:
            groups.setdefault(kind, []).append(item)
        for kind, items in groups.items():
            for start in range(0, len(items), MAX_PER_REQUEST):
                self._outbox.append(self._callback(kind, items[start : start + MAX_PER_REQUEST]))
        while len(self._outbox) > MAX_OUTBOX:
            self._outbox.popleft()
            self.stats.dropped += 1
        self.stats.pending = len(self._outbox)

    def _callback(self, kind: str, items: list[dict[str, Any]]) -> dict[str, Any]:
        ident = self.identity
        callback_id = next(self._ids)
        self.stats.made += 1
        self.stats.by_type[kind] += 1
        return {
            "callback_id": callback_id,
            "type": kind,
            "account_id": ident.account_id,
            "account_name": ident.account_name,
            "account_email": ident.account_email,
            "hash": callback_hash(self.salt, ident.account_id, ident.api_key, callback_id),
            kind: {"sip_registrations": items},
        }

    # --- delivering ------------------------------------------------------------------------
    async def start(self) -> None:
        if self._task is not None:
            return
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
        self._task = asyncio.create_task(self._deliver(), name="sandbox-account-callbacks")
        for reg_id in self.store.ids():
            before = reg_id in self._seen
            self.check(reg_id)
            if not before:
                self._found = [f for f in self._found if f[1]["sip_registration_id"] != reg_id]

    async def stop(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def _deliver(self) -> None:
        delay = self.backoff
        while True:
            await self._wake.wait()
            self._wake.clear()
            self._build()
            while self._outbox and self.url is not None:
                if await self._send_one():
                    delay = self.backoff
                    self._build()
                    continue
                await self._sleep_or_wake(delay)
                delay = min(delay * 2, self.max_backoff)
                self._build()

    async def _sleep_or_wake(self, delay: float) -> None:
        """Back off; a new URL (``SetAccountInfo``) cuts the wait short."""
        url = self.url
        deadline = asyncio.get_running_loop().time() + delay
        while self.url == url:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                return
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=left)
            except TimeoutError:
                return

    async def _send_one(self) -> bool:
        """POST the oldest callbacks; True when the receiver answered 200."""
        assert self._session is not None
        assert self.url is not None
        batch = list(itertools.islice(self._outbox, MAX_PER_REQUEST))
        self.stats.requests += 1
        status = 0
        try:
            async with self._session.post(self.url, json={"callbacks": batch}) as response:
                await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.debug("account callback not delivered: %s", type(exc).__name__)
        self.stats.last_status = status
        if status != 200:
            self.stats.failed_requests += 1
            return False
        for _ in batch:
            self._outbox.popleft()
        self.stats.delivered += len(batch)
        self.stats.pending = len(self._outbox)
        return True
