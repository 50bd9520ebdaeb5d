"""The reconciliation domain's own view of a line and of its two registration reports.

Adapters build these from what Bitrix24 (``voximplant.sip.get`` / ``voximplant.sip.status``)
and Voximplant (``GetSipRegistrations``) returned; the domain never sees a raw response, a
password or a client. Every field an upstream may omit is optional, so a half-filled report
reaches the cross-check instead of crashing the adapter.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, Literal

LineType = Literal["cloud", "office"]

# Bitrix24 ``STATUS_RESULT`` values (api-facts: voximplant.sip.status).
STATUS_SUCCESS: Final = "success"
STATUS_ERROR: Final = "error"
STATUS_IN_PROGRESS: Final = "in_progress"
STATUS_WAIT: Final = "wait"
KNOWN_STATUS_RESULTS: Final = frozenset(
    {STATUS_SUCCESS, STATUS_ERROR, STATUS_IN_PROGRESS, STATUS_WAIT}
)
PENDING_STATUS_RESULTS: Final = frozenset({STATUS_IN_PROGRESS, STATUS_WAIT})


@dataclass(frozen=True, slots=True, kw_only=True)
class Line:
    """A Bitrix24 line as ``voximplant.sip.get`` lists it (never its password).

    ``reg_id`` is the Voximplant ``sip_registration_id`` behind a cloud line; office lines
    register from the customer's PBX and have none.
    """

    config_id: int
    line_type: LineType = "cloud"
    title: str | None = None
    server: str | None = None
    login: str | None = None
    reg_id: int | None = None

    @property
    def registers_at_voximplant(self) -> bool:
        """Whether Voximplant holds a registration for this line that can be cross-checked."""
        return self.line_type == "cloud" and self.reg_id is not None


@dataclass(frozen=True, slots=True, kw_only=True)
class Bitrix24Status:
    """What ``voximplant.sip.status`` reported, as the portal sent it.

    ``status_result`` is kept verbatim (not an enum) so an unknown value survives to the
    verdict's findings instead of failing the parse.
    """

    status_result: str | None = None
    status_code: int | None = None
    error_message: str | None = None
    last_updated: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class VoximplantRegistration:
    """One ``GetSipRegistrations`` entry.

    ``in_progress`` is not a field of the API (only a filter): the adapter decides it, e.g.
    from a registration that is neither successful nor carries a status code yet.
    """

    sip_registration_id: int
    successful: bool | None = None
    status_code: int | None = None
    error_message: str | None = None
    deactivated: bool | None = None
    proxy: str | None = None
    sip_username: str | None = None
    last_updated: int | float | None = None
    in_progress: bool = False


@dataclass(frozen=True, slots=True)
class ConnectorState:
    """The SIP connector's licence: unpaid with no free minutes means lines cannot work."""

    paid: bool
    free_minutes: int | None

    @property
    def usable(self) -> bool:
        return self.paid or (self.free_minutes or 0) > 0


@dataclass(frozen=True, slots=True)
class PortalSurvey:
    """Every line of a portal with its Bitrix24 status, read together for a sweep.

    ``statuses`` has an entry for each line that registers at Voximplant: None when the
    portal has no such registration. ``requests`` is what reading it all cost.
    """

    lines: list[Line] = field(default_factory=list)
    statuses: dict[int, Bitrix24Status | None] = field(default_factory=dict)
    requests: int = 0


@dataclass(frozen=True, slots=True)
class AccountSurvey:
    """Every registration of the Voximplant account, and the requests reading them took."""

    registrations: dict[int, VoximplantRegistration] = field(default_factory=dict)
    requests: int = 0
