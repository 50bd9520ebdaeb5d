"""What the handlers need from the outside world, in the domain's terms.

The Bitrix24 and Voximplant adapters each provide a gateway that satisfies one of these
protocols; the handlers never see a client, a response body or a password they did not get
from the command itself. Tests drive the handlers with fakes of these ports (tests/handlers).

Refusals come as the domain's error classes (``worker.domain.errors``): ``TitleTaken``,
``LineNotFound``, ``RegistrationNotFound``; handlers catch them by class.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Literal, Protocol

from pydantic import SecretStr

from worker.domain.model import (
    AccountSurvey,
    Bitrix24Status,
    ConnectorState,
    Line,
    PortalSurvey,
    VoximplantRegistration,
)
from worker.domain.repair import PortalPolicy, RepairNote, Spent


class PortalLines(Protocol):
    """One Bitrix24 portal's SIP lines."""

    async def connector(self) -> ConnectorState: ...

    async def add_line(
        self,
        *,
        title: str,
        server: str,
        login: str,
        password: SecretStr,
        line_type: Literal["cloud", "office"],
    ) -> Line:
        """Create a line; ``TitleTaken`` when another line has the title."""
        ...

    async def update_line(
        self,
        config_id: int,
        *,
        title: str | None,
        server: str | None,
        login: str | None,
        password: SecretStr | None,
    ) -> None:
        """Change a line; ``LineNotFound`` when there is none with ``config_id``."""
        ...

    async def delete_line(self, config_id: int) -> bool:
        """Delete; False when the line did not exist."""
        ...

    async def find_line(self, config_id: int) -> Line | None: ...

    async def find_by_title(self, title: str) -> Line | None: ...

    async def status(self, reg_id: int) -> Bitrix24Status | None:
        """The registration's status; None when Bitrix24 has no such registration."""
        ...

    async def survey(self) -> PortalSurvey:
        """Every line and its status, in as few requests as the portal allows."""
        ...


class Portals(Protocol):
    """Gives the lines of a portal; an unknown portal raises ``BadInput``."""

    def get(self, portal: str) -> PortalLines: ...

    def policy(self, portal: str) -> PortalPolicy:
        """The portal's repair policy and account ownership (the observe policy when its
        registry entry says nothing)."""
        ...


class CreatedLines(Protocol):
    """Which line each ``line.create`` made, by command id (the line projection records it
    from ``line.created``), so a redelivered create finds its line even after a rename."""

    async def made_by(self, command_id: str) -> tuple[str, int] | None:
        """(portal, config_id) of the line ``command_id`` created; None when not known."""
        ...


class Registrations(Protocol):
    """The Voximplant account's SIP registrations."""

    async def registration(self, reg_id: int) -> VoximplantRegistration | None: ...

    async def all_registrations(self) -> AccountSurvey: ...


class RepairLedger(Protocol):
    """Each line's recent repairs (the budget) and the repair awaiting its re-check.

    Shared by every process that serves the portal when the worker has a store; kept in
    the process otherwise (``worker.store.repairs``).
    """

    async def spend(
        self, portal: str, config_id: int, *, now: float, budget: int, note: RepairNote
    ) -> Spent:
        """Take one repair of the line from its hourly budget; when granted, keep ``note``
        (with ``used`` set to the repairs in the window) until the line's next settled
        check (:meth:`settle`)."""
        ...

    async def settle(
        self, portal: str, config_ids: Collection[int], *, now: float
    ) -> dict[int, RepairNote]:
        """Hand over and forget the current notes of these lines (their checks settled)."""
        ...


class RepairObserver(Protocol):
    """Told the outcome of each repair (the metrics plug in here)."""

    def repair(self, outcome: Literal["done", "failed", "exhausted"]) -> None: ...
