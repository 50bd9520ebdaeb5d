"""Contract events as the worker publishes them, built for the projection's tests."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta

from contracts.events import (
    Bitrix24Side,
    Event,
    LineCreated,
    LineCreatedData,
    LineDeleted,
    LineDeletedData,
    LineReconciled,
    LineReconciledData,
    LineUpdated,
    LineUpdatedData,
    PortalSwept,
    PortalSweptData,
    Verdict,
    VoximplantSide,
)
from tests.contracts.compat import checked_in, widened

T0 = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
_ids = itertools.count(1)


def _envelope(portal: str, at: datetime, command_id: str | None) -> dict[str, object]:
    return {
        "id": f"ev-{next(_ids)}",
        "source": "urn:sipline:test",
        "time": at,
        "portal": portal,
        "causationid": command_id,
        "correlationid": command_id,
    }


def created(
    portal: str, config_id: int, title: str, *, at: datetime = T0, command_id: str = "c-create"
) -> LineCreated:
    return LineCreated(
        type="line.created",
        **_envelope(portal, at, command_id),  # type: ignore[arg-type]
        data=LineCreatedData(
            config_id=config_id,
            reg_id=1000 + config_id,
            title=title,
            server="sip.example.com",
            login="user",
            line_type="cloud",
            already_existed=False,
        ),
    )


def reconciled(
    portal: str,
    config_id: int,
    verdict: Verdict,
    *,
    at: datetime = T0,
    findings: list[str] | None = None,
    command_id: str = "c-check",
) -> LineReconciled:
    return LineReconciled(
        type="line.reconciled",
        **_envelope(portal, at, command_id),  # type: ignore[arg-type]
        data=LineReconciledData(
            config_id=config_id,
            reg_id=1000 + config_id,
            verdict=verdict,
            findings=findings or [],
            bitrix24=Bitrix24Side(status_result="success"),
            voximplant=VoximplantSide(found=True, successful=True),
            attempts=1,
        ),
    )


def updated(
    portal: str,
    config_id: int,
    *,
    title: str | None,
    at: datetime = T0,
    command_id: str = "c-update",
) -> LineUpdated:
    changed = ["title"] if title is not None else ["login"]
    return LineUpdated(
        type="line.updated",
        **_envelope(portal, at, command_id),  # type: ignore[arg-type]
        data=LineUpdatedData(
            config_id=config_id,
            changed_fields=changed,  # type: ignore[arg-type]
            reregistration=title is None,
            title=title,
        ),
    )


def deleted(portal: str, config_id: int, *, at: datetime = T0) -> LineDeleted:
    return LineDeleted(
        type="line.deleted",
        **_envelope(portal, at, "c-delete"),  # type: ignore[arg-type]
        data=LineDeletedData(config_id=config_id, already_absent=False, registration_removed=True),
    )


def swept(portal: str, *, at: datetime = T0) -> PortalSwept:
    return PortalSwept(
        type="portal.swept",
        **_envelope(portal, at, "c-sweep"),  # type: ignore[arg-type]
        data=PortalSweptData(lines_checked=1, verdicts={}, upstream_calls={}),
    )


def later(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def wire(event: Event) -> bytes:
    return event.wire_json()


def from_a_later_minor(event: Event) -> bytes:
    """``event`` as a later minor version might publish it: an unknown field in ``data`` and
    in every object inside it."""
    schema = checked_in()[f"{event.MESSAGE_TYPE}.v1.json"]
    return json.dumps(widened(schema, json.loads(wire(event)))).encode()
