"""Events: what the worker publishes to the ``sipline.events`` exchange for audit consumers.

Routing key = ``type``; ``correlationid`` and ``causationid`` = the id of the command that
caused the event (a command's own ``correlationid`` is carried over when it has one).
Events never carry a password, a webhook code, a token or a key.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, ConfigDict, Field, NonNegativeInt

from contracts.commands import ConfigId, Login, Server, Title, UpdatableField
from contracts.envelope import Data, Envelope, Portal
from contracts.verdicts import Verdict as Verdict  # noqa: PLC0414 (named here as before)


class EventData(Data):
    """Base of every event's ``data`` and of each object inside it: unknown fields are ignored
    (since contract 1.4.0).

    A later minor version may add fields (contract 1.3.0 added ``line.updated``'s ``title``);
    a consumer built on these models, sipline's own projection and ``sipline events`` among
    them, reads such an event as the fields it knows instead of refusing it. The worker builds
    every event from these models, so what it publishes never carries an undeclared field.
    """

    model_config = ConfigDict(extra="ignore")


RegId = Annotated[
    int | None,
    Field(
        description="The Voximplant SIP registration id behind the line (cloud lines only).",
        examples=[150907],
    ),
]


class LineCreatedData(EventData):
    """The line exists: created now, or found identical (``already_existed``)."""

    config_id: ConfigId
    reg_id: RegId = None
    title: Title
    server: Server
    login: Login
    line_type: Literal["cloud", "office"] = Field(
        description="cloud: Voximplant registers the line; office: the PBX registers itself."
    )
    already_existed: bool = Field(
        description="True when an identical line existed and nothing was created."
    )


class LineUpdatedData(EventData):
    """The line's settings were changed."""

    config_id: ConfigId
    changed_fields: list[UpdatableField] = Field(
        description="Names of the fields the update set (the password's value is never sent)."
    )
    reregistration: bool = Field(
        default=False,
        description="True when server, login or password changed and the line re-registers.",
    )
    title: Title | None = Field(
        default=None,
        description=(
            "The line's title after the update, when the update set it; null when the title "
            "was left as it was (absent from workers before contract 1.3.0)."
        ),
        examples=["Office SIP trunk"],
    )


class LineDeletedData(EventData):
    """The line is gone: deleted now, or already absent."""

    config_id: ConfigId
    already_absent: bool = Field(description="True when no such line existed.")
    registration_removed: bool = Field(
        description="True when Voximplant no longer has an active registration for the line."
    )


class Bitrix24Side(EventData):
    """What Bitrix24 reports about the line's registration (``voximplant.sip.status``)."""

    status_result: str | None = Field(
        default=None, description="success, error, in_progress, wait (or what the portal sent)."
    )
    status_code: int | None = Field(default=None, description="SIP status code.")
    error_message: str | None = Field(
        default=None, description="ERROR_MESSAGE as the portal sent it, when registration fails."
    )
    last_updated: str | None = Field(
        default=None, description="LAST_UPDATED as the portal sent it (portal-local time)."
    )


class VoximplantSide(EventData):
    """What Voximplant reports about the registration (``GetSipRegistrations``)."""

    found: bool = Field(description="False when Voximplant has no such registration.")
    successful: bool | None = Field(
        default=None, description="Whether the last registration attempt succeeded."
    )
    status_code: int | None = Field(default=None, description="SIP status code.")
    error_message: str | None = Field(
        default=None, description="Voximplant's error message, when registration fails."
    )
    deactivated: bool | None = Field(
        default=None, description="True when the registration is frozen (deactivated)."
    )
    proxy: str | None = Field(
        default=None, description="The registrar Voximplant registers with; should be the server."
    )
    sip_username: str | None = Field(
        default=None, description="The user name Voximplant registers as; should be the login."
    )
    last_updated: int | float | None = Field(
        default=None, description="last_updated as Voximplant sent it (unit undocumented)."
    )


RepairAction = Literal["started", "exhausted", "not_applied"]
"""What a repair policy did about a verdict (``line.reconciled``'s ``repair``)."""

ReappliedField = Literal["title", "server", "login"]
"""A line setting a repair sends again; the password is never one of them (Bitrix24 keeps it)."""


class LineReconciledData(EventData):
    """The outcome of cross-checking one line's registration on both sides."""

    config_id: ConfigId
    reg_id: RegId = None
    verdict: Verdict = Field(description="The outcome of the cross-check (see Verdict).")
    findings: list[str] = Field(
        default_factory=list, description="Human-readable reasons behind the verdict."
    )
    bitrix24: Bitrix24Side = Field(description="What Bitrix24 reports.")
    voximplant: VoximplantSide = Field(description="What Voximplant reports.")
    attempts: NonNegativeInt = Field(description="Cross-checks made before the verdict.")
    settle_seconds: float | None = Field(
        default=None, description="Seconds from the first check until the line settled."
    )
    repair: RepairAction | None = Field(
        default=None,
        description=(
            "What the portal's repair policy did about this verdict: started (the line was "
            "re-applied from Bitrix24; a line.repaired follows once it is checked again), "
            "exhausted (repair_exhausted: the line's repair budget for the hour is spent, the "
            "line is left alone and reported), not_applied (Bitrix24 refused or did not "
            "answer the update: the last finding says why; the next check tries again while "
            "the budget lasts); null when nothing was done (the observe policy, or a verdict "
            "that is never repaired)."
        ),
        examples=["started"],
    )


class LineRepairedData(EventData):
    """A line was repaired: Bitrix24's own settings were applied again and it was re-checked."""

    config_id: ConfigId
    reg_id: RegId = None
    verdict_before: Verdict = Field(
        description="The verdict that was repaired: config_drift or missing_registration.",
        examples=["config_drift"],
    )
    findings_before: list[str] = Field(
        default_factory=list, description="The findings behind verdict_before."
    )
    reapplied_fields: list[ReappliedField] = Field(
        description=(
            "The settings sent again through voximplant.sip.update, with Bitrix24's own "
            "values (never the password: Bitrix24 keeps it and pushes it itself)."
        ),
        examples=[["server", "login"]],
    )
    server: str | None = Field(
        default=None, description="The server that was applied again (Bitrix24's value)."
    )
    login: str | None = Field(
        default=None, description="The login that was applied again (Bitrix24's value)."
    )
    verdict_after: Verdict = Field(
        description="The verdict of the first settled check after the repair.",
        examples=["in_sync"],
    )
    outcome: Literal["done", "failed"] = Field(
        description="done: the line is in_sync after the repair; failed: it is not."
    )
    repairs_in_window: NonNegativeInt = Field(
        description="Repairs of this line within the last hour, this one included."
    )
    repair_budget: NonNegativeInt = Field(
        description="The portal's repair budget: repairs allowed per line per hour."
    )
    repaired_at: AwareDatetime = Field(description="When the settings were applied again.")


class OrphanRegistration(EventData):
    """A Voximplant registration that no line of the portal references (non-secret fields)."""

    sip_registration_id: int = Field(description="Voximplant's registration id.")
    sip_username: str | None = Field(default=None, description="The user name it registers.")
    proxy: str | None = Field(default=None, description="The registrar it registers with.")
    successful: bool | None = Field(
        default=None, description="Whether its last registration attempt succeeded."
    )
    deactivated: bool | None = Field(default=None, description="True when it is frozen.")


class Orphans(EventData):
    """Registrations of the portal's own Voximplant account that no line references."""

    count: NonNegativeInt = Field(description="How many orphan registrations there are.")
    registrations: list[OrphanRegistration] = Field(
        default_factory=list,
        description="The orphans by id, at most the first 100 (count has them all).",
    )


class PortalSweptData(EventData):
    """Every line of the portal was reconciled."""

    lines_checked: NonNegativeInt = Field(description="Lines cross-checked in the sweep.")
    lines_pending: NonNegativeInt = Field(
        default=0,
        description=(
            "Lines still registering: each gets its own line.reconciled once it settles "
            "(or pending_timeout); they are not counted in verdicts."
        ),
    )
    verdicts: dict[Verdict, NonNegativeInt] = Field(description="Count of lines per verdict.")
    upstream_calls: dict[str, NonNegativeInt] = Field(
        description="HTTP requests made per upstream (bitrix24, voximplant)."
    )
    orphans: Orphans | None = Field(
        default=None,
        description=(
            "Voximplant registrations no line of the portal references; only when the "
            "portal's registry entry says the Voximplant account is its own (null otherwise)."
        ),
    )


class CommandFailedData(EventData):
    """A valid command could not be applied: refused for good, or retries ran out."""

    command_type: str = Field(description="Type of the command that failed.")
    error_code: str = Field(description="The upstream's error code where there is one.")
    message: str = Field(description="What went wrong, for a human (no secrets).")
    retryable: bool = Field(description="True when the failure was transient (retries ran out).")
    attempts: NonNegativeInt = Field(description="Attempts made before giving up.")


class FieldError(EventData):
    """One problem with one field of a rejected message."""

    field: str = Field(description="Dotted path of the offending field, or the header name.")
    problem: str = Field(description="What was wrong with it (never its value).")


RejectReason = Literal[
    "not_json",
    "invalid_encoding",
    "wrong_content_type",
    "body_too_large",
    "unknown_type",
    "schema_violation",
    "unknown_portal",
    "unsupported_version",
    "invalid_input",
    "nothing_to_update",
]
"""Why a message was refused unprocessed (``command.rejected``'s ``reason``).

The worker raises ``BadInput`` with one of these; new reasons are added at the end, never
renamed or removed (consumers switch on them)."""


class CommandRejectedData(EventData):
    """A message could not be accepted as a command; it was dead-lettered unprocessed."""

    reason: RejectReason = Field(description="Why the message could not be accepted.")
    message: str = Field(description="What was wrong, for a human (never a field's value).")
    command_type: str | None = Field(default=None, description="The type it claimed, if any.")
    errors: list[FieldError] = Field(
        default_factory=list, description="One entry per offending field, when known."
    )


class CommandReplayedData(EventData):
    """A dead-lettered command was put back on the command exchange."""

    command_type: str = Field(description="Type of the replayed command.")
    replay_count: NonNegativeInt = Field(description="How many times it has been replayed.")
    dead_letter_reason: str | None = Field(
        default=None, description="Why the broker dead-lettered it (x-death reason)."
    )
    first_failure: AwareDatetime | None = Field(
        default=None, description="When it was first dead-lettered."
    )


class Event(Envelope[Any]):
    """Base of every event: ``time`` is always set, ``portal`` whenever it is known."""

    time: AwareDatetime = Field(description="When the event was produced.")
    portal: Portal | None = Field(
        default=None,
        description="Domain of the Bitrix24 portal the event concerns; absent when unknown.",
    )

    def wire_json(self) -> bytes:
        """Serialize for the wire with every attribute present (null when unknown), so an
        audit consumer sees the complete shape of every event."""
        return self.model_dump_json(by_alias=True).encode()


class LineCreated(Event):
    """``line.created``: answer to ``line.create``."""

    MESSAGE_TYPE = "line.created"
    type: Literal["line.created"] = Field(description="The event type; also the routing key.")
    data: LineCreatedData


class LineUpdated(Event):
    """``line.updated``: answer to ``line.update``."""

    MESSAGE_TYPE = "line.updated"
    type: Literal["line.updated"] = Field(description="The event type; also the routing key.")
    data: LineUpdatedData


class LineDeleted(Event):
    """``line.deleted``: answer to ``line.delete``."""

    MESSAGE_TYPE = "line.deleted"
    type: Literal["line.deleted"] = Field(description="The event type; also the routing key.")
    data: LineDeletedData


class LineReconciled(Event):
    """``line.reconciled``: a line's cross-check settled (after a change, reconcile or sweep)."""

    MESSAGE_TYPE = "line.reconciled"
    type: Literal["line.reconciled"] = Field(description="The event type; also the routing key.")
    data: LineReconciledData


class LineRepaired(Event):
    """``line.repaired``: a drifted or missing registration was repaired and re-checked."""

    MESSAGE_TYPE = "line.repaired"
    type: Literal["line.repaired"] = Field(description="The event type; also the routing key.")
    data: LineRepairedData


class PortalSwept(Event):
    """``portal.swept``: answer to ``portal.sweep``, after every line's ``line.reconciled``."""

    MESSAGE_TYPE = "portal.swept"
    type: Literal["portal.swept"] = Field(description="The event type; also the routing key.")
    data: PortalSweptData


class CommandFailed(Event):
    """``command.failed``: a valid command failed for good and was dead-lettered."""

    MESSAGE_TYPE = "command.failed"
    type: Literal["command.failed"] = Field(description="The event type; also the routing key.")
    data: CommandFailedData


class CommandRejected(Event):
    """``command.rejected``: a message was refused without being applied."""

    MESSAGE_TYPE = "command.rejected"
    type: Literal["command.rejected"] = Field(description="The event type; also the routing key.")
    data: CommandRejectedData


class CommandReplayed(Event):
    """``command.replayed``: a dead-lettered command was replayed by an operator."""

    MESSAGE_TYPE = "command.replayed"
    type: Literal["command.replayed"] = Field(description="The event type; also the routing key.")
    data: CommandReplayedData


EVENTS: dict[str, type[Event]] = {
    model.MESSAGE_TYPE: model
    for model in (
        LineCreated,
        LineUpdated,
        LineDeleted,
        LineReconciled,
        PortalSwept,
        CommandFailed,
        CommandRejected,
        CommandReplayed,
        LineRepaired,
    )
}


_BY_DATA: dict[type, tuple[str, type[Event]]] = {
    model.model_fields["data"].annotation: (name, model)  # type: ignore[misc]
    for name, model in EVENTS.items()
}


def event_for(data: EventData) -> tuple[str, type[Event]]:
    """The event type and model that carry ``data``."""
    found = _BY_DATA.get(type(data))
    if found is None:
        raise TypeError(f"no event carries {type(data).__name__}")
    return found
