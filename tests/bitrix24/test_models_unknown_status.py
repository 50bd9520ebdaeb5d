"""An undocumented STATUS_RESULT survives parsing, so the cross-check can name it."""

from __future__ import annotations

from worker.adapters.bitrix24.models import SipStatus


def test_unknown_status_result_is_kept() -> None:
    status = SipStatus.model_validate(
        {"REG_ID": "7", "STATUS_RESULT": "Registering_Soon", "STATUS_CODE": ""}
    )
    assert status.status_result == "registering_soon"
    assert status.status_code is None
