"""Builders for the domain's inputs: a healthy cloud line and two agreeing reports."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from worker.domain.model import Bitrix24Status, Line, VoximplantRegistration

REG_ID = 150907


def line(**changes: Any) -> Line:
    base = Line(
        config_id=42,
        line_type="cloud",
        title="Office SIP trunk",
        server="sip.example.net",
        login="100200",
        reg_id=REG_ID,
    )
    return replace(base, **changes)


def b24(**changes: Any) -> Bitrix24Status:
    base = Bitrix24Status(
        status_result="success",
        status_code=200,
        error_message=None,
        last_updated="2024-05-01 12:00:00",
    )
    return replace(base, **changes)


def vox(**changes: Any) -> VoximplantRegistration:
    base = VoximplantRegistration(
        sip_registration_id=REG_ID,
        successful=True,
        status_code=200,
        error_message=None,
        deactivated=False,
        proxy="sip.example.net",
        sip_username="100200",
        last_updated=1714564800,
        in_progress=False,
    )
    return replace(base, **changes)


FAILING_B24 = {"status_result": "error", "status_code": 403, "error_message": "Forbidden"}
FAILING_VOX = {"successful": False, "status_code": 403, "error_message": "Forbidden"}
