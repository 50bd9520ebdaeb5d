"""One realistic example of every message, built from the models so that it always validates.

The AsyncAPI document, ``docs/contracts.md`` and the contract tests all show these. Passwords
here are obviously fake (they contain ``EXAMPLE``) so that no document ever carries a
real-looking credential.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import SecretStr

from contracts.commands import (
    Command,
    LineCreate,
    LineCreateData,
    LineDelete,
    LineReconcile,
    LineRefData,
    LineUpdate,
    LineUpdateData,
    PortalSweep,
    PortalSweepData,
)
from contracts.envelope import dataschema_uri
from contracts.events import (
    Bitrix24Side,
    CommandFailed,
    CommandFailedData,
    CommandRejected,
    CommandRejectedData,
    CommandReplayed,
    CommandReplayedData,
    Event,
    FieldError,
    LineCreated,
    LineCreatedData,
    LineDeleted,
    LineDeletedData,
    LineReconciled,
    LineReconciledData,
    LineRepaired,
    LineRepairedData,
    LineUpdated,
    LineUpdatedData,
    OrphanRegistration,
    Orphans,
    PortalSwept,
    PortalSweptData,
    Verdict,
    VoximplantSide,
)

FAKE_PASSWORD_MARK = "EXAMPLE"  # noqa: S105 - the mark of a fake, not a credential
"""Every example password contains this, and a test checks it."""

PORTAL = "example.bitrix24.ru"
PUBLISHER = "urn:service:crm-provisioning"
WORKER = "urn:sipline:worker"

_CREATE_ID = "01JD3M8X4V7Q2K9T5R6W1Y0ZAB"
_UPDATE_ID = "01JD3MB2C5E8G1J4M7P0R3T6VX"
_DELETE_ID = "01JD3MD9F2H5K8N1Q4S7U0W3YZ"
_RECONCILE_ID = "01JD3MF6A9C2E5G8J1L4N7Q0SU"
_SWEEP_ID = "01JD3MH3B6D9F2H5K8M1P4R7TW"


def _at(minute: int, second: int = 0) -> datetime:
    return datetime(2026, 11, 23, 10, minute, second, tzinfo=UTC)


def _event_ids(event_id: str, command_id: str) -> dict[str, str]:
    return {"id": event_id, "correlationid": command_id, "causationid": command_id}


COMMANDS: dict[str, Command] = {
    "line.create": LineCreate(
        id=_CREATE_ID,
        type="line.create",
        source=PUBLISHER,
        time=_at(15),
        portal=PORTAL,
        dataschema=dataschema_uri("line.create", 1),
        data=LineCreateData(
            title="Office SIP trunk",
            server="sip.example.net",
            login="100200",
            password=SecretStr("EXAMPLE-not-a-real-password"),
            line_type="cloud",
        ),
    ),
    "line.update": LineUpdate(
        id=_UPDATE_ID,
        type="line.update",
        source=PUBLISHER,
        time=_at(20),
        subject="lines/42",
        portal=PORTAL,
        dataschema=dataschema_uri("line.update", 1),
        data=LineUpdateData(
            config_id=42,
            server="sip2.example.net",
            password=SecretStr("EXAMPLE-rotated-fake-password"),
        ),
    ),
    "line.delete": LineDelete(
        id=_DELETE_ID,
        type="line.delete",
        source=PUBLISHER,
        time=_at(30),
        subject="lines/42",
        portal=PORTAL,
        data=LineRefData(config_id=42),
    ),
    "line.reconcile": LineReconcile(
        id=_RECONCILE_ID,
        type="line.reconcile",
        source="urn:service:noc-console",
        time=_at(25),
        subject="lines/42",
        portal=PORTAL,
        correlationid="incident-2026-1123-07",
        data=LineRefData(config_id=42),
    ),
    "portal.sweep": PortalSweep(
        id=_SWEEP_ID,
        type="portal.sweep",
        source="urn:service:scheduler",
        time=_at(0),
        subject=PORTAL,
        portal=PORTAL,
        data=PortalSweepData(),
    ),
}

EVENTS: dict[str, Event] = {
    "line.created": LineCreated(
        **_event_ids("5b0e7a52-7f0c-5c43-9d1e-2a6f8c3b9e10", _CREATE_ID),
        type="line.created",
        source=WORKER,
        time=_at(15, 2),
        subject="lines/42",
        portal=PORTAL,
        dataschema=dataschema_uri("line.created", 1),
        data=LineCreatedData(
            config_id=42,
            reg_id=150907,
            title="Office SIP trunk",
            server="sip.example.net",
            login="100200",
            line_type="cloud",
            already_existed=False,
        ),
    ),
    "line.updated": LineUpdated(
        **_event_ids("0c9d3f6e-1b2a-5e84-8f7d-6a5b4c3d2e1f", _UPDATE_ID),
        type="line.updated",
        source=WORKER,
        time=_at(20, 1),
        subject="lines/42",
        portal=PORTAL,
        dataschema=dataschema_uri("line.updated", 1),
        data=LineUpdatedData(
            config_id=42, changed_fields=["server", "password"], reregistration=True
        ),
    ),
    "line.deleted": LineDeleted(
        **_event_ids("9a8b7c6d-5e4f-5a3b-8c2d-1e0f9a8b7c6d", _DELETE_ID),
        type="line.deleted",
        source=WORKER,
        time=_at(30, 1),
        subject="lines/42",
        portal=PORTAL,
        dataschema=dataschema_uri("line.deleted", 1),
        data=LineDeletedData(config_id=42, already_absent=False, registration_removed=True),
    ),
    "line.reconciled": LineReconciled(
        id="2c4e6a8b-0d1f-5a3c-9e5b-7d9f1a3c5e7b",
        correlationid="incident-2026-1123-07",
        causationid=_RECONCILE_ID,
        type="line.reconciled",
        source=WORKER,
        time=_at(25, 4),
        subject="lines/42",
        portal=PORTAL,
        dataschema=dataschema_uri("line.reconciled", 1),
        data=LineReconciledData(
            config_id=42,
            reg_id=150907,
            verdict=Verdict.CONFIG_DRIFT,
            findings=[
                "Voximplant registers with proxy sip.example.net, the line's server is "
                "sip2.example.net"
            ],
            bitrix24=Bitrix24Side(
                status_result="success", status_code=200, last_updated="2026-11-23 13:25:02"
            ),
            voximplant=VoximplantSide(
                found=True,
                successful=True,
                status_code=200,
                deactivated=False,
                proxy="sip.example.net",
                sip_username="100200",
                last_updated=1795440302,
            ),
            attempts=3,
            settle_seconds=3.4,
            repair="started",
        ),
    ),
    "portal.swept": PortalSwept(
        **_event_ids("3e2d1c0b-9a8f-5e7d-9c6b-5a4f3e2d1c0b", _SWEEP_ID),
        type="portal.swept",
        source=WORKER,
        time=_at(0, 9),
        subject=PORTAL,
        portal=PORTAL,
        dataschema=dataschema_uri("portal.swept", 1),
        data=PortalSweptData(
            lines_checked=12,
            verdicts={Verdict.IN_SYNC: 10, Verdict.REGISTRATION_FAILED: 1, Verdict.DEACTIVATED: 1},
            upstream_calls={"bitrix24": 14, "voximplant": 2},
            orphans=Orphans(
                count=1,
                registrations=[
                    OrphanRegistration(
                        sip_registration_id=150911,
                        sip_username="100299",
                        proxy="sip.example.net",
                        successful=True,
                        deactivated=False,
                    )
                ],
            ),
        ),
    ),
    "command.failed": CommandFailed(
        **_event_ids("7f6e5d4c-3b2a-5190-8f7e-6d5c4b3a2910", _CREATE_ID),
        type="command.failed",
        source=WORKER,
        time=_at(27, 41),
        portal=PORTAL,
        dataschema=dataschema_uri("command.failed", 1),
        data=CommandFailedData(
            command_type="line.create",
            error_code="QUERY_LIMIT_EXCEEDED",
            message="Bitrix24 kept answering 503 Too many requests",
            retryable=True,
            attempts=6,
        ),
    ),
    "command.rejected": CommandRejected(
        id="8d7c6b5a-4f3e-5d2c-8b1a-0f9e8d7c6b5a",
        correlationid="01JD3MK0C3E6G9J2L5N8Q1S4UW",
        causationid="01JD3MK0C3E6G9J2L5N8Q1S4UW",
        type="command.rejected",
        source=WORKER,
        time=_at(31),
        portal=PORTAL,
        dataschema=dataschema_uri("command.rejected", 1),
        data=CommandRejectedData(
            reason="schema_violation",
            message="the message does not match the line.create schema",
            command_type="line.create",
            errors=[FieldError(field="data.server", problem="Field required")],
        ),
    ),
    "command.replayed": CommandReplayed(
        id="1a2b3c4d-5e6f-5a7b-8c9d-0e1f2a3b4c5d",
        correlationid=_UPDATE_ID,
        causationid=_UPDATE_ID,
        type="command.replayed",
        source=WORKER,
        time=_at(55),
        subject="lines/42",
        portal=PORTAL,
        dataschema=dataschema_uri("command.replayed", 1),
        data=CommandReplayedData(
            command_type="line.update",
            replay_count=1,
            dead_letter_reason="delivery_limit",
            first_failure=_at(21, 30),
        ),
    ),
    "line.repaired": LineRepaired(
        id="6f1e2d3c-4b5a-5968-8776-5a4b3c2d1e0f",
        correlationid="incident-2026-1123-07",
        causationid=f"{_RECONCILE_ID}/repair-1",
        type="line.repaired",
        source=WORKER,
        time=_at(25, 9),
        subject="lines/42",
        portal=PORTAL,
        dataschema=dataschema_uri("line.repaired", 1),
        data=LineRepairedData(
            config_id=42,
            reg_id=150907,
            verdict_before=Verdict.CONFIG_DRIFT,
            findings_before=[
                "Voximplant registers with proxy sip.example.net, the line's server is "
                "sip2.example.net"
            ],
            reapplied_fields=["server", "login"],
            server="sip2.example.net",
            login="100200",
            verdict_after=Verdict.IN_SYNC,
            outcome="done",
            repairs_in_window=1,
            repair_budget=3,
            repaired_at=_at(25, 4),
        ),
    ),
}
