"""Domain reports onto the ``line.reconciled`` event's side models."""

from __future__ import annotations

import pytest

from contracts.events import Bitrix24Side, LineReconciledData, Verdict, VoximplantSide
from tests.domain.builders import REG_ID, b24, vox
from worker.domain.mapping import to_event_sides
from worker.domain.model import Bitrix24Status, VoximplantRegistration


@pytest.mark.parametrize(
    ("b24_status", "vox_reg", "expected_b24", "expected_vox"),
    [
        pytest.param(
            b24(),
            vox(),
            Bitrix24Side(
                status_result="success",
                status_code=200,
                last_updated="2024-05-01 12:00:00",
            ),
            VoximplantSide(
                found=True,
                successful=True,
                status_code=200,
                deactivated=False,
                proxy="sip.example.net",
                sip_username="100200",
                last_updated=1714564800,
            ),
            id="both-reported",
        ),
        pytest.param(None, None, Bitrix24Side(), VoximplantSide(found=False), id="neither"),
        pytest.param(
            Bitrix24Status(status_result="weird"),
            VoximplantRegistration(sip_registration_id=REG_ID, in_progress=True),
            Bitrix24Side(status_result="weird"),
            VoximplantSide(found=True),
            id="sparse",
        ),
        pytest.param(
            b24(status_result="error", status_code=403, error_message="Forbidden"),
            vox(successful=False, status_code=403, error_message="Forbidden", last_updated=1.5),
            Bitrix24Side(
                status_result="error",
                status_code=403,
                error_message="Forbidden",
                last_updated="2024-05-01 12:00:00",
            ),
            VoximplantSide(
                found=True,
                successful=False,
                status_code=403,
                error_message="Forbidden",
                deactivated=False,
                proxy="sip.example.net",
                sip_username="100200",
                last_updated=1.5,
            ),
            id="failing",
        ),
    ],
)
def test_to_event_sides(
    b24_status: Bitrix24Status | None,
    vox_reg: VoximplantRegistration | None,
    expected_b24: Bitrix24Side,
    expected_vox: VoximplantSide,
) -> None:
    assert to_event_sides(b24_status, vox_reg) == (expected_b24, expected_vox)


def test_sides_fit_the_event() -> None:
    bitrix24, voximplant = to_event_sides(b24(), None)

    data = LineReconciledData(
        config_id=42,
        reg_id=REG_ID,
        verdict=Verdict.MISSING_REGISTRATION,
        bitrix24=bitrix24,
        voximplant=voximplant,
        attempts=1,
    )

    assert LineReconciledData.model_validate_json(data.model_dump_json()) == data
