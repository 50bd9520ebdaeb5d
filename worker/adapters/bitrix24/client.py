"""The Bitrix24 REST client of one portal: typed ``voximplant.sip.*`` methods.

Results are parsed into the models of :mod:`worker.adapters.bitrix24.models`; a result that
does not parse is the portal's fault (transient), and its input is never echoed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, SecretStr, ValidationError

from worker.adapters.bitrix24.batch import BatchCall
from worker.adapters.bitrix24.core import PortalCaller
from worker.adapters.bitrix24.models import ConnectorStatus, SipLine, SipStatus
from worker.errors import BadInput, SiplineError, UpstreamUnavailable

M = TypeVar("M", bound=BaseModel)


class Bitrix24Client(PortalCaller):
    """The typed API of one portal that the reconciliation layer calls."""

    async def connector_status(self) -> ConnectorStatus:
        """The SIP connector's licence: without it cloud lines do not register."""
        body = await self.call("voximplant.sip.connector.status")
        return _parse(ConnectorStatus, body.get("result"), self.portal)

    async def sip_add(
        self,
        *,
        title: str,
        server: str,
        login: str,
        password: SecretStr | str,
        line_type: Literal["cloud", "office"] = "cloud",
    ) -> SipLine:
        """Create a line; a cloud line comes back with the ``REG_ID`` of its registration."""
        secret = _reveal(password)
        params = {
            "TYPE": line_type,
            "TITLE": title,
            "SERVER": server,
            "LOGIN": login,
            "PASSWORD": secret,
        }
        body = await self.call("voximplant.sip.add", params, secrets=[secret])
        return _parse(SipLine, body.get("result"), self.portal)

    async def sip_update(
        self,
        config_id: int,
        *,
        title: str | None = None,
        server: str | None = None,
        login: str | None = None,
        password: SecretStr | str | None = None,
    ) -> None:
        """Change a line; a new server, login or password makes the line re-register."""
        changes: dict[str, Any] = {"TITLE": title, "SERVER": server, "LOGIN": login}
        if password is not None:
            changes["PASSWORD"] = _reveal(password)
        changes = {k: v for k, v in changes.items() if v is not None}
        if not changes:
            raise BadInput("sip_update needs at least one change", reason="nothing_to_update")
        secrets = [changes["PASSWORD"]] if "PASSWORD" in changes else []
        await self.call(
            "voximplant.sip.update", {"CONFIG_ID": config_id, **changes}, secrets=secrets
        )

    async def sip_delete(self, config_id: int) -> None:
        """Delete a line and its registration."""
        await self.call("voximplant.sip.delete", {"CONFIG_ID": config_id})

    async def sip_get(
        self, filter: Mapping[str, Any] | None = None, *, sort: str | None = None
    ) -> list[SipLine]:
        """Every line the caller may see, across all pages."""
        lines: list[SipLine] = []
        start: int | None = 0
        while start is not None:
            params: dict[str, Any] = {"start": start}
            if filter:
                params["FILTER"] = dict(filter)
            if sort:
                params.update(SORT=sort, ORDER="ASC")
            body = await self.call("voximplant.sip.get", params)
            page = body.get("result")
            if not isinstance(page, list):
                raise _unexpected(self.portal, "voximplant.sip.get")
            lines.extend(_parse(SipLine, item, self.portal) for item in page)
            nxt = body.get("next")
            start = int(nxt) if nxt not in (None, "") and page else None
        return lines

    async def sip_status(self, reg_id: int) -> SipStatus:
        """A cloud line's registration state as Bitrix24 reports it."""
        body = await self.call("voximplant.sip.status", {"REG_ID": reg_id})
        return _parse(SipStatus, body.get("result"), self.portal)

    async def sip_status_many(self, reg_ids: Sequence[int]) -> dict[int, SipStatus | SiplineError]:
        """Many registrations' states through ``batch``: a status or an error per id."""
        calls = [BatchCall("voximplant.sip.status", {"REG_ID": r}) for r in reg_ids]
        answers = await self.batch(calls)
        out: dict[int, SipStatus | SiplineError] = {}
        for reg_id, outcome in zip(reg_ids, answers, strict=True):
            if outcome.error is not None:
                out[reg_id] = outcome.error
                continue
            try:
                out[reg_id] = _parse(SipStatus, outcome.result, self.portal)
            except UpstreamUnavailable as exc:
                out[reg_id] = exc
        return out


def _reveal(value: SecretStr | str) -> str:
    return value.get_secret_value() if isinstance(value, SecretStr) else value


def _unexpected(portal: str, what: str) -> UpstreamUnavailable:
    return UpstreamUnavailable(
        f"Bitrix24 on {portal}: unexpected answer shape for {what}",
        code="ERROR_UNEXPECTED_ANSWER",
    )


def _parse(model: type[M], data: object, portal: str) -> M:
    try:
        return model.model_validate(data)
    except ValidationError:
        # not chained: the validation error would describe the offending (secret) input
        raise _unexpected(portal, model.__name__) from None
