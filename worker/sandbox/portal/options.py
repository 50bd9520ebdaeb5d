"""What a sandbox portal is told at start, what tests can change while it runs, and what
it counts.  Times are configurable so tests run in milliseconds, not minutes."""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from typing import Any

ENTERPRISE_BUCKET = (250, 5.0)
STANDARD_BUCKET = (50, 2.0)


def _code() -> str:
    return secrets.token_hex(8)


@dataclass(slots=True)
class PortalOptions:
    """One sandbox portal: its name, credentials, limits and timings."""

    domain: str = "sandbox.bitrix24.test"
    webhook_user_id: int = 1
    webhook_code: str = field(default_factory=_code)
    oauth_client_id: str = "local.sandbox.app"
    oauth_client_secret: str = field(default_factory=_code)
    access_token_ttl: float = 3600.0
    cloud_pbx_limit: int = 5
    bucket_capacity: int = STANDARD_BUCKET[0]
    drain_per_second: float = STANDARD_BUCKET[1]
    operating_limit: float = 480.0
    operating_window: float = 600.0
    method_cost: float = 0.0
    telephony_rights: bool = True
    connector_paid: bool = True
    connector_free_minutes: int = 0
    page_size: int = 50
    unordered_pages_shuffle: bool = False
    seed: int | None = None

    @classmethod
    def enterprise(cls, **changes: Any) -> PortalOptions:
        """An enterprise plan's bucket: 250 requests draining 5 per second."""
        capacity, drain = ENTERPRISE_BUCKET
        return cls(**{"bucket_capacity": capacity, "drain_per_second": drain, **changes})


FAULT_KINDS = ("error_500", "html", "drop", "query_limit")
_SECONDS = frozenset({"latency", "stall_seconds", "token_stall_seconds"})


@dataclass(slots=True)
class Faults:
    """Injected misbehaviour: added latency (s) and the share (0..1) of each fault.

    ``stall`` is the share of requests whose answer is held for ``stall_seconds`` after the
    work is done: a client with a shorter timeout gives up, yet the portal has made the change
    (the case where a retried ``voximplant.sip.add`` finds the line already made).

    ``token_stall_seconds`` holds every answer of the token endpoint that long *after* the
    refresh token was rotated: a refresher killed (or timing out) meanwhile has spent the
    token without ever seeing the new pair, the window in which a pair is lost in flight.
    """

    latency: float = 0.0
    error_500: float = 0.0
    html: float = 0.0
    drop: float = 0.0
    query_limit: float = 0.0
    stall: float = 0.0
    stall_seconds: float = 0.0
    token_stall_seconds: float = 0.0

    def update(self, changes: dict[str, Any]) -> None:
        """Apply a partial update (from tests or ``POST /_sandbox/faults``)."""
        known = {f.name for f in fields(self)}
        for name, value in changes.items():
            if name not in known:
                raise ValueError(f"unknown fault {name!r}; known: {sorted(known)}")
            number = float(value)
            if number < 0 or (name not in _SECONDS and number > 1):
                raise ValueError(f"fault {name!r} out of range: {number}")
            setattr(self, name, number)

    def as_dict(self) -> dict[str, float]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(slots=True)
class Counters:
    """What the portal saw: a test or a benchmark reads these.

    ``auth_rejections`` counts the OAuth refusals by code: ``expired_token`` and
    ``invalid_token`` on REST calls, ``invalid_grant`` (a refresh token spent or unknown) and
    ``invalid_client`` on the token endpoint.
    """

    requests: int = 0
    by_method: Counter[str] = field(default_factory=Counter)
    batch_commands: int = 0
    query_limit_rejections: int = 0
    operating_rejections: int = 0
    injected: Counter[str] = field(default_factory=Counter)
    token_refreshes: int = 0
    auth_rejections: Counter[str] = field(default_factory=Counter)
    installs: int = 0
    uninstalls: int = 0

    def snapshot(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "by_method": dict(self.by_method),
            "batch_commands": self.batch_commands,
            "query_limit_rejections": self.query_limit_rejections,
            "operating_rejections": self.operating_rejections,
            "injected": dict(self.injected),
            "token_refreshes": self.token_refreshes,
            "oauth": {
                "refreshes": self.token_refreshes,
                "expired_token": self.auth_rejections["expired_token"],
                "invalid_grant": self.auth_rejections["invalid_grant"],
                "invalid_token": self.auth_rejections["invalid_token"],
                "rejections": dict(self.auth_rejections),
            },
            "installs": self.installs,
            "uninstalls": self.uninstalls,
        }

    def reset(self) -> None:
        self.requests = self.batch_commands = self.token_refreshes = 0
        self.query_limit_rejections = self.operating_rejections = 0
        self.installs = self.uninstalls = 0
        self.by_method.clear()
        self.injected.clear()
        self.auth_rejections.clear()


_SUMMED = ("requests", "batch_commands", "query_limit_rejections", "operating_rejections")
_SUMMED_OAUTH = (
    "refreshes",
    "expiries",
    "early_refreshes",
    "expired_token",
    "invalid_grant",
    "invalid_token",
)


def totals(snapshots: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Counter snapshots of many portals added up (``by_method`` and ``oauth`` too)."""
    summed: dict[str, Any] = dict.fromkeys(_SUMMED, 0)
    by_method: Counter[str] = Counter()
    oauth: dict[str, int] = dict.fromkeys(_SUMMED_OAUTH, 0)
    portals = 0
    for snapshot in snapshots:
        portals += 1
        for name in _SUMMED:
            summed[name] += snapshot[name]
        by_method.update(snapshot["by_method"])
        for name in _SUMMED_OAUTH:
            oauth[name] += snapshot["oauth"].get(name, 0)
    return {"portals": portals, **summed, "by_method": dict(by_method), "oauth": oauth}
