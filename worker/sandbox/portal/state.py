"""Everything one sandbox portal knows, and how it runs a method or a batch.

Transport concerns (routes, auth, faults, the bucket) live in :mod:`.app`; this module
is what happens once a request is admitted.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from worker.sandbox.portal.batch import run_batch
from worker.sandbox.portal.errors import ApiError
from worker.sandbox.portal.limits import LeakyBucket, OperatingMeter
from worker.sandbox.portal.lines import LineBook, Page
from worker.sandbox.portal.oauth import OAuthServer
from worker.sandbox.portal.options import Counters, Faults, PortalOptions
from worker.sandbox.registrations import RegistrationStore

Handler = Callable[[Mapping[str, Any], str | None], Page]


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="seconds")


def time_block(start: float, duration: float, operating: float, reset_at: float) -> dict[str, Any]:
    """The ``time`` block every answer carries."""
    return {
        "start": start,
        "finish": start + duration,
        "duration": duration,
        "processing": duration,
        "date_start": _iso(start),
        "date_finish": _iso(start + duration),
        "operating": operating,
        "operating_reset_at": int(reset_at),
    }


class PortalState:
    """Lines, limits, tokens, faults and counters of one portal."""

    def __init__(
        self,
        *,
        options: PortalOptions,
        registrations: RegistrationStore,
        faults: Faults | None = None,
    ) -> None:
        self.options = options
        self.registrations = registrations
        self.faults = faults or Faults()
        self.counters = Counters()
        self.bucket = LeakyBucket(options.bucket_capacity, options.drain_per_second)
        self.meter = OperatingMeter(options.operating_limit, options.operating_window)
        self.oauth = OAuthServer(
            client_id=options.oauth_client_id,
            client_secret=options.oauth_client_secret,
            access_token_ttl=options.access_token_ttl,
            domain=options.domain,
        )
        self.application_token: str | None = None  # set by an install
        self.rng = random.Random(options.seed)  # noqa: S311 - fault dice, not security
        self.lines = LineBook(options=options, registrations=registrations, rng=self.rng)
        self.methods: dict[str, Handler] = {
            "voximplant.sip.add": self.lines.add,
            "voximplant.sip.update": self.lines.update,
            "voximplant.sip.delete": self.lines.delete,
            "voximplant.sip.get": self.lines.get,
            "voximplant.sip.status": self.lines.status,
            "voximplant.sip.connector.status": self.lines.connector_status,
            "server.time": lambda _p, _a: Page(_iso(time.time())),
            "scope": lambda _p, _a: Page(["telephony"]),
        }

    def reset_counters(self) -> None:
        """Start counting afresh (the limits, tokens and lines stay)."""
        self.counters.reset()
        self.oauth.expiries = 0
        self.oauth.early_refreshes = 0

    def snapshot(self) -> dict[str, Any]:
        """The counters and the bucket's level, as the stats routes show them."""
        snapshot = {**self.counters.snapshot(), "bucket_level": self.bucket.level}
        snapshot["oauth"]["expiries"] = self.oauth.expiries
        snapshot["oauth"]["early_refreshes"] = self.oauth.early_refreshes
        return snapshot

    def roll(self, share: float) -> bool:
        """True with probability ``share``."""
        return share > 0 and self.rng.random() < share

    def run_method(
        self, method: str, params: Mapping[str, Any], app_id: str | None
    ) -> tuple[Page, dict[str, Any]]:
        """One method under the operating-time limit; returns its page and time block."""
        handler = self.methods.get(method)
        if handler is None:
            raise ApiError("ERROR_METHOD_NOT_FOUND", "Method not found!", 404)
        if method.startswith("voximplant.") and not self.options.telephony_rights:
            raise ApiError("ACCESS_DENIED", "Access denied!", 403)
        if self.meter.blocked(method):
            self.counters.operating_rejections += 1
            reset_at = self.meter.reset_at(method)
            block = time_block(time.time(), 0.0, self.meter.used(method), reset_at)
            raise ApiError(
                "OPERATION_TIME_LIMIT",
                f"Method is blocked due to operation time limit ({method})",
                429,
                extra={"time": block},
            )
        started = time.time()
        page = handler(params, app_id)
        duration = time.time() - started + self.options.method_cost
        self.meter.record(method, duration)
        used, reset_at = self.meter.used(method), self.meter.reset_at(method)
        return page, time_block(started, duration, used, reset_at)

    def execute(self, method: str, params: Mapping[str, Any], app_id: str | None) -> dict[str, Any]:
        """The whole success body of a request (a method, or a batch)."""
        started = time.time()
        if method == "batch":
            result = run_batch(params, lambda m, p: self.run_method(m, p, app_id))
            self.counters.batch_commands += len(params["CMD"])
            elapsed = time.time() - started
            return {"result": result, "time": time_block(started, elapsed, 0.0, started)}
        page, block = self.run_method(method, params, app_id)
        body: dict[str, Any] = {"result": page.result}
        if page.total is not None:
            body["total"] = page.total
        if page.next is not None:
            body["next"] = page.next
        body["time"] = block
        return body
