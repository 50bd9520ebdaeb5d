"""The domain's reports as the ``line.reconciled`` event shows them.

The event says what each side reported, whatever the verdict: these are plain copies.
Voximplant's ``in_progress`` is the adapter's judgement, not an API field, so it is not
shown; a missing registration is ``found=False`` with every other field empty.
"""

from __future__ import annotations

from contracts.events import Bitrix24Side, VoximplantSide
from worker.domain.model import Bitrix24Status, VoximplantRegistration


def to_event_sides(
    b24: Bitrix24Status | None, vox: VoximplantRegistration | None
) -> tuple[Bitrix24Side, VoximplantSide]:
    """Both sides' reports as the event's ``bitrix24`` and ``voximplant`` fields."""
    return bitrix24_side(b24), voximplant_side(vox)


def bitrix24_side(b24: Bitrix24Status | None) -> Bitrix24Side:
    """Bitrix24's report (all fields empty when it had no status for the line)."""
    if b24 is None:
        return Bitrix24Side()
    return Bitrix24Side(
        status_result=b24.status_result,
        status_code=b24.status_code,
        error_message=b24.error_message,
        last_updated=b24.last_updated,
    )


def voximplant_side(vox: VoximplantRegistration | None) -> VoximplantSide:
    """Voximplant's report (``found=False`` when it has no such registration)."""
    if vox is None:
        return VoximplantSide(found=False)
    return VoximplantSide(
        found=True,
        successful=vox.successful,
        status_code=vox.status_code,
        error_message=vox.error_message,
        deactivated=vox.deactivated,
        proxy=vox.proxy,
        sip_username=vox.sip_username,
        last_updated=vox.last_updated,
    )
