"""What the handlers need from the outside world, in the domain's terms.

The Bitrix24 and Voximplant adapters each provide a gateway that satisfies one of these
protocols; the handlers never see a client, a response body or a password they did not get
from the command itself. Tests drive the handlers with fakes of these ports.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from pydantic import SecretStr

from worker.domain.model import Bitrix24Status, Line, VoximplantRegistration


@dataclass(frozen=True, slots=True)
class ConnectorState:
    """The SIP connector's licence: unpaid with no free minutes means lines cannot work."""

    paid: bool
    free_minutes: int | None

    @property
    def usable(self) -> bool:
        return self.paid or (self.free_minutes or 0) > 0


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
    ) -> Line: ...

    async def update_line(
        self,
        config_id: int,
        *,
        title: str | None,
        server: str | None,
        login: str | None,
        password: SecretStr | None,
    ) -> None: ...

    async def delete_line(self, config_id: int) -> bool:
        """Delete; False when the line did not exist."""
        ...

    async def find_line(self, config_id: int) -> Line | None: ...

    async def find_by_title(self, title: str) -> Line | None: ...

    async def list_lines(self) -> list[Line]: ...

    async def status(self, reg_id: int) -> Bitrix24Status | None:
        """The registration's status; None when Bitrix24 has no such registration."""
        ...

    async def statuses(self, reg_ids: Sequence[int]) -> dict[int, Bitrix24Status | None]:
        """Many statuses in as few requests as the portal allows."""
        ...


class Portals(Protocol):
    """Gives the lines of a portal; an unknown portal raises ``BadInput``."""

    def for_portal(self, portal: str) -> PortalLines: ...


class Registrations(Protocol):
    """The Voximplant account's SIP registrations."""

    async def registration(self, reg_id: int) -> VoximplantRegistration | None: ...

    async def all_registrations(self) -> dict[int, VoximplantRegistration]: ...
