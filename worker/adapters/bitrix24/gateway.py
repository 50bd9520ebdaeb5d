"""The Bitrix24 adapter seen through the handlers' ports (``worker.handlers.ports``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import SecretStr

from worker.adapters.bitrix24.client import Bitrix24Client
from worker.adapters.bitrix24.models import SipLine, SipStatus
from worker.adapters.bitrix24.registry import Bitrix24Clients
from worker.domain.model import Bitrix24Status, Line
from worker.errors import PermanentError, SiplineError
from worker.handlers.ports import ConnectorState

NOT_FOUND = frozenset({"ERROR_NOT_FOUND", "REG_ID_NOT_FOUND"})


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


class PortalGateway:
    """One portal's lines, through its shared client."""

    def __init__(self, *, client: Bitrix24Client) -> None:
        self._client = client

    async def connector(self) -> ConnectorState:
        state = await self._client.connector_status()
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
        created = await self._client.sip_add(
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
        await self._client.sip_update(
            config_id, title=title, server=server, login=login, password=password
        )

    async def delete_line(self, config_id: int) -> bool:
        try:
            await self._client.sip_delete(config_id)
        except PermanentError as exc:
            if exc.code == "ERROR_NOT_FOUND":
                return False
            raise
        return True

    async def find_line(self, config_id: int) -> Line | None:
        found = await self._client.sip_get({"CONFIG_ID": config_id})
        return next((to_line(x) for x in found if x.config_id == config_id), None)

    async def find_by_title(self, title: str) -> Line | None:
        found = await self._client.sip_get({"TITLE": title})
        return next((to_line(x) for x in found if x.title == title), None)

    async def list_lines(self) -> list[Line]:
        return [to_line(x) for x in await self._client.sip_get()]

    async def status(self, reg_id: int) -> Bitrix24Status | None:
        try:
            return to_status(await self._client.sip_status(reg_id))
        except PermanentError as exc:
            if exc.code in NOT_FOUND:
                return None
            raise

    async def statuses(self, reg_ids: Sequence[int]) -> dict[int, Bitrix24Status | None]:
        if not reg_ids:
            return {}
        answers = await self._client.sip_status_many(list(reg_ids))
        out: dict[int, Bitrix24Status | None] = {}
        for reg_id, answer in answers.items():
            if isinstance(answer, SiplineError):
                if isinstance(answer, PermanentError) and answer.code in NOT_FOUND:
                    out[reg_id] = None
                    continue
                raise answer
            out[reg_id] = to_status(answer)
        return out


class PortalsGateway:
    """Every configured portal; an unknown one is ``BadInput`` (from the registry)."""

    def __init__(self, *, clients: Bitrix24Clients) -> None:
        self._clients = clients
        self._gateways: dict[str, PortalGateway] = {}

    def for_portal(self, portal: str) -> PortalGateway:
        gateway = self._gateways.get(portal)
        if gateway is None:
            gateway = PortalGateway(client=self._clients.for_portal(portal))
            self._gateways[portal] = gateway
        return gateway
