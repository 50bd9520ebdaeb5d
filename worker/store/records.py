"""The store's records: plain frozen values, secrets as :class:`~pydantic.SecretStr`.

A record read from the store carries decrypted secrets wrapped in ``SecretStr`` (so a stray
``repr`` or log line shows ``**********``); the SQL adapter encrypts them on the way in.
Times are timezone-aware UTC datetimes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, NamedTuple

from pydantic import SecretStr

AuthKind = Literal["webhook", "oauth"]
Plan = Literal["standard", "enterprise", "custom"]
RepairPolicy = Literal["observe", "repair"]
LineChangeKind = Literal["created", "updated", "deleted", "reconciled"]

DEFAULT_OAUTH_SERVER = "https://oauth.bitrix24.tech/oauth/token/"


@dataclass(frozen=True, slots=True)
class PortalRecord:
    """One Bitrix24 portal in the registry: how to reach it and how to treat it.

    ``version`` is assigned by the store on every change (a store-wide increasing number),
    so a poller that remembers the highest version it saw can tell what changed.
    """

    domain: str
    auth: AuthKind
    webhook_url: SecretStr | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None
    rest_url: str | None = None
    oauth_server_url: str = DEFAULT_OAUTH_SERVER
    plan: Plan = "standard"
    bucket_capacity: int | None = None
    drain_per_second: float | None = None
    enabled: bool = True
    member_id: str | None = None
    application_token: SecretStr | None = None
    sweep_interval: float | None = None
    repair_policy: RepairPolicy = "observe"
    repair_budget: int | None = None
    owns_voximplant_account: bool = False
    created_at: datetime | None = None
    updated_at: datetime | None = None
    version: int = 0

    def __post_init__(self) -> None:
        if self.auth == "webhook" and self.webhook_url is None:
            raise ValueError("a webhook portal needs its webhook URL")
        if self.auth == "oauth" and not (self.client_id and self.client_secret):
            raise ValueError("an OAuth portal needs its client id and client secret")

    def bucket(self) -> tuple[int, float]:
        """The leaky bucket (capacity, drain per second) this portal's plan allows."""
        capacity, drain = (250, 5.0) if self.plan == "enterprise" else (50, 2.0)
        return (self.bucket_capacity or capacity, self.drain_per_second or drain)


@dataclass(frozen=True, slots=True)
class PortalState:
    """What a listing shows of a registered portal: no secret is read (or decrypted)."""

    domain: str
    enabled: bool
    auth: AuthKind


ReauthReason = Literal["refresh_lost", "refresh_refused"]
"""Why a portal needs authorising again: ``refresh_lost``, its refresh token was spent by a
refresh that never stored its pair (the refresher died, or lost the answer or the store);
``refresh_refused``, the OAuth server refused a refresh token nobody was known to spend
(the application was uninstalled, or its tokens revoked)."""


@dataclass(frozen=True, slots=True)
class RefreshIntent:
    """A refresh recorded before the OAuth server was called, and not (yet) completed.

    ``fingerprint`` names the refresh token being spent (a hash, never the token);
    ``lease_until`` is how long the others wait for it before they try themselves."""

    owner: str
    started_at: datetime
    lease_until: datetime
    fingerprint: str


@dataclass(frozen=True, slots=True)
class Reauthorization:
    """The mark of a portal whose OAuth pair is gone: it needs installing again."""

    reason: ReauthReason
    since: datetime
    detail: str


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """A portal's current OAuth pair; ``generation`` grows by one with every stored pair."""

    portal: str
    access_token: SecretStr
    refresh_token: SecretStr
    expires_at: datetime | None
    generation: int
    in_flight: RefreshIntent | None = None
    reauth: Reauthorization | None = None


class LineRecord(NamedTuple):
    """The projected current state of one line, keyed by (portal, config_id).

    A named tuple rather than a frozen dataclass: as immutable, and made four times as
    fast, which counts where a reader makes 50,000 of them (``sipline status``)."""

    portal: str
    config_id: int
    title: str | None
    line_type: str | None
    reg_id: int | None
    verdict: str | None
    verdict_since: datetime | None
    last_checked: datetime | None
    findings: list[str]
    last_command_id: str | None
    deleted: bool
    last_event_id: str
    last_event_at: datetime


@dataclass(frozen=True, slots=True)
class LineFilter:
    """Which lines a reader wants: ``verdicts`` None for any (a None inside it: unchecked)."""

    portal: str | None = None
    verdicts: tuple[str | None, ...] | None = None
    include_deleted: bool = False


@dataclass(frozen=True, slots=True)
class LineKey:
    """A line's place in the reading order: portal, then its verdict's rank in the order
    the reader gave, then config id. The page after a key starts just past it."""

    portal: str
    rank: int
    config_id: int


@dataclass(frozen=True, slots=True)
class LineChange:
    """One event of the event log, as the line projection needs it.

    ``None`` fields leave the stored value as it is. ``kind`` says what happened:
    ``created`` (title, type and reg_id known), ``updated`` (title when it changed),
    ``deleted`` (the row is marked, never dropped) or ``reconciled`` (a verdict and its
    findings; the check time is ``occurred_at``).
    """

    event_id: str
    occurred_at: datetime
    portal: str
    config_id: int
    kind: LineChangeKind
    command_id: str | None = None
    title: str | None = None
    line_type: str | None = None
    reg_id: int | None = None
    verdict: str | None = None
    findings: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Cadence:
    """A registered portal as the sweep schedule sees it: its own interval (None: the
    default) and whether a worker serves it (enabled, and an OAuth portal has tokens)."""

    portal: str
    interval: float | None
    served: bool


@dataclass(frozen=True, slots=True)
class TickRecord:
    """A portal's sweep schedule: the one tick the broker should hold for it.

    ``generation`` names that tick: a tick carrying any other generation is a duplicate or
    a replay and is dropped. ``due_at`` None: the portal is not scheduled (no interval, or
    disabled or removed); the generation is kept so a stale tick still never matches.
    ``interval`` is the one the tick was armed with; ``fired_at`` when the last tick fired;
    ``swept_at`` the time of the last ``portal.swept`` the event log reported.
    """

    portal: str
    generation: int
    due_at: datetime | None
    interval: float
    fired_at: datetime | None = None
    swept_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Firing:
    """One tick of a batch to fire: ``portal``'s tick ``expected`` moves to the next
    generation, due at ``due_at`` with ``interval`` (:meth:`ScheduleRepository.fire_many`)."""

    portal: str
    expected: int
    due_at: datetime
    interval: float


@dataclass(frozen=True, slots=True)
class IssuedTokens:
    """A pair the OAuth server just issued, not yet stored."""

    access_token: SecretStr
    refresh_token: SecretStr
    expires_at: datetime | None


@dataclass(frozen=True, slots=True)
class RepairRecord:
    """One line's repair ledger: when its recent repairs were made (epoch seconds) and the
    repair awaiting its re-check (``note``, a JSON object; None when there is none)."""

    portal: str
    config_id: int
    history: tuple[float, ...] = ()
    note: dict[str, Any] | None = None
