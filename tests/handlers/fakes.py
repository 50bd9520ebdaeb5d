"""Dict-backed fakes of the handlers' ports, and a clock that moves only when told.

They keep the rules the real portal and account keep where a handler depends on them (a
title is unique; a cloud line gets a registration), count the requests a real gateway would
send, and let a test pause a call to make two commands interleave.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, TypeVar

from pydantic import SecretStr

from contracts import Command, Data
from worker.domain.errors import LineNotFound, TitleTaken
from worker.domain.model import (
    AccountSurvey,
    Bitrix24Status,
    ConnectorState,
    Line,
    PortalSurvey,
    VoximplantRegistration,
)
from worker.domain.repair import OBSERVE, PortalPolicy
from worker.errors import BadInput

PAGE = 50  # what one request of the real gateway reads: a page of lines, or 50 statuses
PORTAL = "fake.bitrix24.test"

C = TypeVar("C", bound=Command)


def command(model: type[C], command_id: str, data: Data | None = None) -> C:
    """A command of ``model`` for :data:`PORTAL`, as a producer would send it."""
    body: dict[str, object] = {
        "id": command_id,
        "type": model.MESSAGE_TYPE,
        "source": "urn:test",
        "portal": PORTAL,
    }
    if data is not None:
        body["data"] = data
    return model.model_validate(body)


@dataclass
class FakeClock:
    now: float = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class FakePortal:
    """One portal's lines (``PortalLines``), with statuses keyed by ``REG_ID``."""

    lines: dict[int, Line] = field(default_factory=dict)
    statuses: dict[int, Bitrix24Status] = field(default_factory=dict)
    connector_state: ConnectorState = field(
        default_factory=lambda: ConnectorState(paid=True, free_minutes=None)
    )
    lookup_gate: asyncio.Barrier | None = None
    """When set, the first title lookups wait here together: N creates all look before any
    of them adds."""
    calls: list[str] = field(default_factory=list)
    updates: list[dict[str, object]] = field(default_factory=list)
    """What each ``update_line`` was given (the password as given: a SecretStr or None)."""
    update_error: Exception | None = None
    """Raised by every ``update_line`` when set."""
    on_update: Callable[[Line], None] | None = None
    """Called with the line after each update: a test's stand-in for Bitrix24 pushing the
    line to Voximplant again."""
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def put(self, line: Line, status: Bitrix24Status | None = None) -> Line:
        self.lines[line.config_id] = line
        if status is not None and line.reg_id is not None:
            self.statuses[line.reg_id] = status
        return line

    async def connector(self) -> ConnectorState:
        self.calls.append("connector")
        return self.connector_state

    async def add_line(
        self,
        *,
        title: str,
        server: str,
        login: str,
        password: SecretStr,
        line_type: Literal["cloud", "office"],
    ) -> Line:
        self.calls.append("add_line")
        if any(line.title == title for line in self.lines.values()):
            raise TitleTaken(f"title {title!r} exists")
        config_id = next(self._ids)
        reg_id = 1000 + config_id if line_type == "cloud" else None
        line = Line(
            config_id=config_id,
            line_type=line_type,
            title=title,
            server=server,
            login=login,
            reg_id=reg_id,
        )
        return self.put(line, Bitrix24Status(status_result="wait"))

    async def update_line(
        self,
        config_id: int,
        *,
        title: str | None,
        server: str | None,
        login: str | None,
        password: SecretStr | None,
    ) -> None:
        self.calls.append("update_line")
        if self.update_error is not None:
            raise self.update_error
        if config_id not in self.lines:
            raise LineNotFound(f"line {config_id} does not exist")
        self.updates.append(
            {"config_id": config_id, "title": title, "server": server, "login": login}
            | {"password": password}
        )
        if self.on_update is not None:
            self.on_update(self.lines[config_id])

    async def delete_line(self, config_id: int) -> bool:
        self.calls.append("delete_line")
        return self.lines.pop(config_id, None) is not None

    async def find_line(self, config_id: int) -> Line | None:
        self.calls.append("find_line")
        return self.lines.get(config_id)

    async def find_by_title(self, title: str) -> Line | None:
        self.calls.append("find_by_title")
        found = next((x for x in self.lines.values() if x.title == title), None)
        gate = self.lookup_gate
        if gate is not None:
            await gate.wait()
            self.lookup_gate = None  # one round: a lookup after a refused add goes through
        return found

    async def status(self, reg_id: int) -> Bitrix24Status | None:
        self.calls.append("status")
        return self.statuses.get(reg_id)

    async def survey(self) -> PortalSurvey:
        self.calls.append("survey")
        lines = sorted(self.lines.values(), key=lambda x: x.config_id)
        cloud = [x.reg_id for x in lines if x.registers_at_voximplant and x.reg_id]
        return PortalSurvey(
            lines=lines,
            statuses={reg_id: self.statuses.get(reg_id) for reg_id in cloud},
            requests=_pages(len(lines)) + _pages(len(cloud)),
        )


@dataclass
class FakePortals:
    """``Portals``: the fakes by domain; any other portal is ``BadInput``."""

    portals: dict[str, FakePortal] = field(default_factory=dict)
    policies: dict[str, PortalPolicy] = field(default_factory=dict)

    def get(self, portal: str) -> FakePortal:
        found = self.portals.get(portal)
        if found is None:
            raise BadInput(f"unknown portal {portal!r}", reason="unknown_portal")
        return found

    def policy(self, portal: str) -> PortalPolicy:
        return self.policies.get(portal, OBSERVE)


@dataclass
class FakeRepairs:
    """``RepairObserver``: the outcomes told, in order."""

    outcomes: list[str] = field(default_factory=list)

    def repair(self, outcome: str) -> None:
        self.outcomes.append(outcome)


@dataclass
class FakeAccount:
    """``Registrations``: the Voximplant account's registrations by id."""

    registrations: dict[int, VoximplantRegistration] = field(default_factory=dict)
    page_size: int = 1000

    async def registration(self, reg_id: int) -> VoximplantRegistration | None:
        return self.registrations.get(reg_id)

    async def all_registrations(self) -> AccountSurvey:
        # pages until a short one, as GetSipRegistrations is read
        requests = len(self.registrations) // self.page_size + 1
        return AccountSurvey(registrations=dict(self.registrations), requests=requests)


def _pages(items: int) -> int:
    return -(-items // PAGE)
