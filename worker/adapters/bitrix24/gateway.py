"""One portal's client seen through the handlers' port (``worker.handlers.ports.PortalLines``)."""

from __future__ import annotations

from typing import Literal

from pydantic import SecretStr

from worker.adapters.bitrix24.client import Bitrix24Client
from worker.adapters.bitrix24.models import SipLine, SipStatus
from worker.adapters.bitrix24.survey import survey
from worker.adapters.upstream import Tally
from worker.domain.errors import LineNotFound, RegistrationNotFound
from worker.domain.model import Bitrix24Status, ConnectorState, Line, PortalSurvey
from worker.errors import SiplineError


def to_line(line: SipLine) -> Line:
    return Line(
        config_id=line.config_id,
        line_type=line.line_type,
        title=line.title or None,
        server=line.server or None,
        login=line.login or None,
        reg_id=line.reg_id if line.line_type == "cloud" else None,
    )


def to_status(status: SipStatus) -> Bitrix24Status:
    return Bitrix24Status(
        status_result=status.status_result,
        status_code=status.status_code,
        error_message=status.error_message or None,
        last_updated=status.last_updated or None,
    )


def _status_or_none(answer: SipStatus | SiplineError) -> Bitrix24Status | None:
    if isinstance(answer, RegistrationNotFound):
        return None
    if isinstance(answer, SiplineError):
        raise answer
    return to_status(answer)


class PortalGateway:
    """One portal's lines, through its client (shared by every command for the portal)."""

    def __init__(self, *, client: Bitrix24Client) -> None:
        self.client = client

    async def connector(self) -> ConnectorState:
        state = await self.client.connector_status()
        return ConnectorState(paid=state.paid, free_minutes=state.free_minutes)

    async def add_line(
        self,
        *,
        title: str,
        server: str,
        login: str,
        password: SecretStr,
        line_type: Literal["cloud", "office"],
    ) -> Line:
        created = await self.client.sip_add(
            title=title, server=server, login=login, password=password, line_type=line_type
        )
        return to_line(created)

    async def update_line(
        self,
        config_id: int,
        *,
        title: str | None,
        server: str | None,
        login: str | None,
        password: SecretStr | None,
    ) -> None:
        await self.client.sip_update(
            config_id, title=title, server=server, login=login, password=password
        )

    async def delete_line(self, config_id: int) -> bool:
        try:
            await self.client.sip_delete(config_id)
        except LineNotFound:
            return False
        return True

    async def find_line(self, config_id: int) -> Line | None:
        found = await self.client.sip_get({"CONFIG_ID": config_id})
        return next((to_line(x) for x in found if x.config_id == config_id), None)

    async def find_by_title(self, title: str) -> Line | None:
        found = await self.client.sip_get({"TITLE": title})
        return next((to_line(x) for x in found if x.title == title), None)

    async def status(self, reg_id: int) -> Bitrix24Status | None:
        try:
            return to_status(await self.client.sip_status(reg_id))
        except RegistrationNotFound:
            return None

    async def survey(self) -> PortalSurvey:
        tally = Tally()
        read = await survey(self.client, tally=tally)
        statuses = {reg_id: _status_or_none(answer) for reg_id, answer in read.statuses.items()}
        return PortalSurvey(
            lines=[to_line(x) for x in read.lines], statuses=statuses, requests=tally.requests
        )
