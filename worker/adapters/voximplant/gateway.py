"""The Voximplant adapter seen through the handlers' port (``worker.handlers.ports``)."""

from __future__ import annotations

from worker.adapters.upstream import Tally
from worker.adapters.voximplant.client import MAX_PAGE_SIZE, VoximplantClient
from worker.adapters.voximplant.models import SipRegistration
from worker.domain.model import AccountSurvey, VoximplantRegistration


def to_registration(reg: SipRegistration) -> VoximplantRegistration:
    """Voximplant has no "in progress" field: a registration that has neither succeeded nor
    received a SIP answer yet is still being worked on."""
    in_progress = not reg.successful and reg.status_code in (None, 0) and not reg.deactivated
    return VoximplantRegistration(
        sip_registration_id=reg.sip_registration_id,
        successful=reg.successful,
        status_code=reg.status_code or None,
        error_message=reg.error_message or None,
        deactivated=reg.deactivated,
        proxy=reg.proxy,
        sip_username=reg.sip_username,
        last_updated=reg.last_updated,
        in_progress=in_progress,
    )


class RegistrationsGateway:
    """The account's registrations (``worker.handlers.ports.Registrations``)."""

    def __init__(self, *, client: VoximplantClient, page_size: int = MAX_PAGE_SIZE) -> None:
        self._client = client
        self._page_size = page_size

    async def registration(self, reg_id: int) -> VoximplantRegistration | None:
        found = await self._client.get_sip_registration(reg_id)
        return None if found is None else to_registration(found)

    async def all_registrations(self) -> AccountSurvey:
        tally = Tally()
        out: dict[int, VoximplantRegistration] = {}
        pages = self._client.iter_sip_registrations(page_size=self._page_size, tally=tally)
        async for reg in pages:
            out[reg.sip_registration_id] = to_registration(reg)
        return AccountSurvey(registrations=out, requests=tally.requests)
