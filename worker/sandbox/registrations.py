"""The sandbox's SIP side: registrations shared by the sandbox portal and the sandbox account.

A cloud line made on the sandbox portal owns one :class:`Registration`; its ``reg_id`` is
the line's ``REG_ID`` and the Voximplant account's ``sip_registration_id``. Its state moves
``wait`` → ``in_progress`` → ``success`` or ``error`` as the (injectable) clock advances; the
outcome is decided by the credentials against the configured :class:`AcceptRule` list.

Divergence injection (:meth:`RegistrationStore.diverge`) changes only what the Voximplant
side reports, so that the cross-check's every verdict can be produced on purpose. A
re-registration (a ``voximplant.sip.update`` that sends server, login or password, as a
repair does) reports the truth again, unless the divergence is ``sticky``: then no repair
heals it. :meth:`RegistrationStore.refuse` makes a working registration fail for real (both
sides).

Listeners (:meth:`RegistrationStore.listen`) hear of every change a request makes (create,
re-register, diverge, remove) with the registration id; the account's callbacks use it
together with :meth:`RegistrationStore.settles_in` to see a registration fail or recover.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Literal

State = Literal["wait", "in_progress", "success", "error"]

DEFAULT_SERVER = "sip.sandbox.test"
DEFAULT_PASSWORD = "sandbox-pass"  # noqa: S105 - the sandbox's own, documented test password


@dataclass(frozen=True, slots=True)
class AcceptRule:
    """Credentials the sandbox's SIP side accepts; ``login="*"`` accepts any login."""

    server: str
    login: str
    password: str

    def matches_server(self, server: str) -> bool:
        return self.server.lower() == server.lower()

    def matches_login(self, login: str) -> bool:
        return self.login in ("*", login)


@dataclass(frozen=True, slots=True)
class Outcome:
    successful: bool
    status_code: int
    error_message: str


def decide(rules: list[AcceptRule], server: str, login: str, password: str) -> Outcome:
    """What the SIP registrar answers for these credentials."""
    on_server = [r for r in rules if r.matches_server(server)]
    if not on_server:
        return Outcome(False, 408, "Request Timeout")
    with_login = [r for r in on_server if r.matches_login(login)]
    if not with_login:
        return Outcome(False, 403, "Forbidden")
    if any(r.password == password for r in with_login):
        return Outcome(True, 200, "")
    return Outcome(False, 401, "Unauthorized")


@dataclass(slots=True)
class Divergence:
    """What the Voximplant side reports instead of the truth (None: report the truth)."""

    deactivated: bool | None = None
    successful: bool | None = None
    status_code: int | None = None
    error_message: str | None = None
    proxy: str | None = None
    sip_username: str | None = None
    deleted: bool = False
    sticky: bool = False  # survives a re-registration: a line no repair can heal


@dataclass(slots=True)
class Registration:
    """One SIP registration as both sandbox sides see it."""

    reg_id: int
    server: str
    login: str
    password: str
    started_at: float
    outcome: Outcome
    divergence: Divergence = field(default_factory=Divergence)
    removed: bool = False


@dataclass(frozen=True, slots=True)
class VoximplantView:
    """The registration as ``GetSipRegistrations`` reports it (divergences applied)."""

    sip_registration_id: int
    sip_username: str
    proxy: str
    auth_user: str
    outbound_proxy: str
    successful: bool
    in_progress: bool
    status_code: int | None
    error_message: str | None
    deactivated: bool
    last_updated: int


@dataclass(frozen=True, slots=True)
class Bitrix24View:
    """The registration as ``voximplant.sip.status`` reports it."""

    reg_id: int
    status_result: State
    status_code: int | None
    error_message: str
    last_updated: str


class RegistrationStore:
    """Registrations, their timing and their outcome; one store per sandbox."""

    def __init__(
        self,
        *,
        rules: list[AcceptRule] | None = None,
        wait_seconds: float = 0.2,
        progress_seconds: float = 0.3,
        clock: Callable[[], float] = time.time,
        first_id: int = 150_000,
    ) -> None:
        self.rules = list(rules) if rules else [AcceptRule(DEFAULT_SERVER, "*", DEFAULT_PASSWORD)]
        self.wait_seconds = wait_seconds
        self.progress_seconds = progress_seconds
        self.clock = clock
        self._ids = itertools.count(first_id)
        self._items: dict[int, Registration] = {}
        self._listeners: list[Callable[[int], None]] = []

    def listen(self, listener: Callable[[int], None]) -> None:
        """Call ``listener(reg_id)`` after every change to a registration."""
        self._listeners.append(listener)

    def _changed(self, reg_id: int) -> None:
        for listener in self._listeners:
            listener(reg_id)

    def ids(self) -> list[int]:
        """Every registration id, removed ones included."""
        return list(self._items)

    def settles_in(self, reg_id: int) -> float:
        """Seconds until the registration's outcome is known (0 if it is)."""
        reg = self._items.get(reg_id)
        if reg is None:
            return 0.0
        settled_at = reg.started_at + self.wait_seconds + self.progress_seconds
        return max(0.0, settled_at - self.clock())

    # --- the portal's side --------------------------------------------------------
    def create(self, server: str, login: str, password: str) -> Registration:
        now = self.clock()
        reg = Registration(
            reg_id=next(self._ids),
            server=server,
            login=login,
            password=password,
            started_at=now,
            outcome=decide(self.rules, server, login, password),
        )
        self._items[reg.reg_id] = reg
        self._changed(reg.reg_id)
        return reg

    def reregister(self, reg_id: int, server: str, login: str, password: str) -> None:
        reg = self._items[reg_id]
        now = self.clock()
        reg.server, reg.login, reg.password = server, login, password
        reg.started_at = now
        reg.outcome = decide(self.rules, server, login, password)
        if not reg.divergence.sticky:
            reg.divergence = Divergence()
        self._changed(reg_id)

    def refuse(
        self, reg_id: int, *, status_code: int = 403, error_message: str = "Forbidden"
    ) -> None:
        """The registrar starts refusing the registration (its SIP provider changed the
        password or blocked the account): its next re-registration, now, fails, and both
        sides report the failure at once (no ``wait``/``in_progress`` in between)."""
        reg = self._items[reg_id]
        reg.started_at = self.clock() - self.wait_seconds - self.progress_seconds
        reg.outcome = Outcome(False, status_code, error_message)
        self._changed(reg_id)

    def admit(self, reg_id: int) -> None:
        """The registrar judges the registration by its rules again (undoes :meth:`refuse`);
        it re-registers now and both sides report the outcome at once."""
        reg = self._items[reg_id]
        reg.started_at = self.clock() - self.wait_seconds - self.progress_seconds
        reg.outcome = decide(self.rules, reg.server, reg.login, reg.password)
        self._changed(reg_id)

    def remove(self, reg_id: int) -> None:
        reg = self._items.get(reg_id)
        if reg is not None:
            reg.removed = True
            self._changed(reg_id)

    def get(self, reg_id: int) -> Registration | None:
        reg = self._items.get(reg_id)
        return None if reg is None or reg.removed else reg

    def state(self, reg: Registration) -> State:
        elapsed = self.clock() - reg.started_at
        if elapsed < self.wait_seconds:
            return "wait"
        if elapsed < self.wait_seconds + self.progress_seconds:
            return "in_progress"
        return "success" if reg.outcome.successful else "error"

    def bitrix24_view(self, reg: Registration) -> Bitrix24View:
        state = self.state(reg)
        settled = state in ("success", "error")
        return Bitrix24View(
            reg_id=reg.reg_id,
            status_result=state,
            status_code=reg.outcome.status_code if settled else None,
            error_message=reg.outcome.error_message if settled else "",
            last_updated=time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(self._settled_at(reg))),
        )

    # --- the Voximplant side --------------------------------------------------------
    def voximplant_view(self, reg: Registration) -> VoximplantView | None:
        """What Voximplant reports, or None when the registration is gone there."""
        if reg.removed or reg.divergence.deleted:
            return None
        state = self.state(reg)
        settled = state in ("success", "error")
        d = reg.divergence
        truth_ok = state == "success"
        return VoximplantView(
            sip_registration_id=reg.reg_id,
            sip_username=d.sip_username if d.sip_username is not None else reg.login,
            proxy=d.proxy if d.proxy is not None else reg.server,
            auth_user=reg.login,
            outbound_proxy="",
            successful=d.successful if d.successful is not None else truth_ok,
            in_progress=not settled and d.successful is None,
            status_code=(
                d.status_code
                if d.status_code is not None
                else (reg.outcome.status_code if settled else None)
            ),
            error_message=(
                d.error_message
                if d.error_message is not None
                else (reg.outcome.error_message or None if settled else None)
            ),
            deactivated=bool(d.deactivated),
            last_updated=int(self._settled_at(reg)),
        )

    def voximplant_one(self, reg_id: int) -> VoximplantView | None:
        """What Voximplant reports of one registration: a lookup by id, not a scan (the
        worker asks by id for every line it checks; a scan made each check cost time in
        proportion to every portal's lines, 13 ms at 2,400 registrations)."""
        reg = self._items.get(reg_id)
        return None if reg is None else self.voximplant_view(reg)

    def voximplant_all(self) -> Iterator[VoximplantView]:
        """Every registration Voximplant still has, in id order."""
        for reg_id in sorted(self._items):
            view = self.voximplant_view(self._items[reg_id])
            if view is not None:
                yield view

    def diverge(self, reg_id: int, **changes: object) -> None:
        """Make the Voximplant side report something else (see :class:`Divergence`)."""
        reg = self._items[reg_id]
        for name, value in changes.items():
            if not hasattr(reg.divergence, name):
                raise KeyError(f"unknown divergence {name!r}")
            setattr(reg.divergence, name, value)
        self._changed(reg_id)

    def _settled_at(self, reg: Registration) -> float:
        return min(self.clock(), reg.started_at + self.wait_seconds + self.progress_seconds)
