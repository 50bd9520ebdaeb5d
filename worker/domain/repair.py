"""The repair policy: which verdicts are repaired, how often, and what a repair sends.

A portal's registry entry says ``observe`` (report only, the default) or ``repair``. Under
``repair`` a settled ``config_drift`` or ``missing_registration`` is repaired by applying
the line's own Bitrix24 settings again (``voximplant.sip.update`` with the server and login
``voximplant.sip.get`` listed), which makes Bitrix24 push its configuration to Voximplant
again; the line is then re-checked through the usual settle loop. ``registration_failed``
is never repaired: wrong credentials are for a person to fix, and re-sending them would only
fail again.

Each line may be repaired at most ``budget`` times within a sliding hour (:func:`spend`);
then it is reported (``repair_exhausted``) and left alone until the hour has moved on, so a
line that no repair can heal never loops.

Pure: the caller passes the clock's readings and the repair history in.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal

from contracts.events import ReappliedField, Verdict
from worker.domain.model import Line, VoximplantRegistration

PolicyMode = Literal["observe", "repair"]

DEFAULT_BUDGET: Final = 3
WINDOW_SECONDS: Final = 3600.0
REPAIRABLE: Final = frozenset({Verdict.CONFIG_DRIFT, Verdict.MISSING_REGISTRATION})
MAX_ORPHANS_LISTED: Final = 100


@dataclass(frozen=True, slots=True, kw_only=True)
class PortalPolicy:
    """How the worker treats one portal's divergences and its Voximplant account.

    ``owns_voximplant_account``: every registration of the account belongs to this portal,
    so one that no line references is an orphan worth reporting.
    """

    mode: PolicyMode = "observe"
    budget: int = DEFAULT_BUDGET
    owns_voximplant_account: bool = False

    def __post_init__(self) -> None:
        if self.budget < 0:
            raise ValueError("a repair budget cannot be negative")

    @property
    def repairs(self) -> bool:
        return self.mode == "repair"

    def wants_repair(self, verdict: Verdict | None) -> bool:
        """Whether a line with this settled verdict is to be repaired (budget permitting)."""
        return self.repairs and verdict in REPAIRABLE


OBSERVE: Final = PortalPolicy()


@dataclass(frozen=True, slots=True, kw_only=True)
class Reapply:
    """The settings a repair sends again: the line's own values as Bitrix24 lists them."""

    server: str
    login: str

    @property
    def fields(self) -> list[ReappliedField]:
        return ["server", "login"]


def reapply(line: Line) -> Reapply | None:
    """What to send to repair ``line``; None when Bitrix24 listed no server or login for it
    (nothing of its own to apply again)."""
    if not line.server or not line.login:
        return None
    return Reapply(server=line.server, login=line.login)


@dataclass(frozen=True, slots=True, kw_only=True)
class RepairNote:
    """A repair made and not yet followed by a settled check: what was wrong and what was
    sent. The next settled verdict of the line completes it into a ``line.repaired``."""

    verdict: Verdict
    findings: tuple[str, ...] = ()
    server: str | None = None
    login: str | None = None
    fields: tuple[ReappliedField, ...] = ()
    at: float = 0.0
    used: int = 1
    budget: int = DEFAULT_BUDGET


@dataclass(frozen=True, slots=True)
class Spent:
    """The answer to a request to repair: granted or not, and how much of the budget is used.

    ``used`` counts the repairs within the window (the granted one included); when refused,
    ``free_at`` is when the oldest of them leaves the window.
    """

    granted: bool
    used: int
    budget: int
    free_at: float | None = None


def spend(
    history: Iterable[float], *, now: float, budget: int, window: float = WINDOW_SECONDS
) -> tuple[Spent, tuple[float, ...]]:
    """Take one repair from a sliding-window budget.

    ``history``: when the line's earlier repairs were made. Returns the answer and the
    history to keep (repairs older than the window dropped; ``now`` added when granted).
    A time in the future (another host's clock) counts as made now.
    """
    recent = sorted(min(at, now) for at in history if now - at < window)
    if len(recent) < budget:
        kept = (*recent, now)
        return Spent(granted=True, used=len(kept), budget=budget), kept
    free_at = recent[len(recent) - budget] + window if recent else None
    return Spent(granted=False, used=len(recent), budget=budget, free_at=free_at), tuple(recent)


def note_is_current(note: RepairNote, *, now: float, window: float = WINDOW_SECONDS) -> bool:
    """A note older than the window is stale: whatever settles now is no longer its outcome."""
    return now - note.at < window


@dataclass(frozen=True, slots=True)
class OrphanReport:
    """The account's registrations that no line references; ``listed`` holds the first
    :data:`MAX_ORPHANS_LISTED` by id, ``count`` all of them."""

    count: int = 0
    listed: list[VoximplantRegistration] = field(default_factory=list)


def orphans(
    registrations: Mapping[int, VoximplantRegistration], lines: Sequence[Line]
) -> OrphanReport:
    """Registrations of an account the portal owns that none of its lines references."""
    referenced = {line.reg_id for line in lines if line.reg_id is not None}
    found = [registrations[i] for i in sorted(registrations) if i not in referenced]
    return OrphanReport(count=len(found), listed=found[:MAX_ORPHANS_LISTED])


def exhausted_finding(spent: Spent) -> str:
    """Why a line that wanted a repair was left alone (``repair_exhausted``)."""
    until = ""
    if spent.free_at is not None:
        until = time.strftime(" until %Y-%m-%d %H:%M:%S UTC", time.gmtime(spent.free_at))
    return (
        f"repair_exhausted: {spent.used} repairs of this line within the last hour "
        f"(budget {spent.budget}); left alone{until}"
    )
