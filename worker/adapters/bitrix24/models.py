"""What the Bitrix24 ``voximplant.sip.*`` methods return, parsed defensively.

Bitrix24 sends numbers as strings (``"REG_ID": "150907"``), blanks for absent numbers and
``"Y"``/``"N"`` for booleans, so every model coerces.  ``voximplant.sip.get`` gives no
guarantee about which fields carry credentials, so a line keeps only the fields sipline
uses, never shows server, login or passwords in its ``repr``, and hides the input of a
failed validation (``hide_input_in_errors``) so a parse error cannot echo a password.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, SecretStr, ValidationError

from worker.adapters.bitrix24.batch import CallOutcome
from worker.errors import SiplineError, UpstreamUnavailable


def _blank_to_none(value: object) -> object:
    """Bitrix24 writes an absent number as ``""`` (or ``"0"`` for some ids: kept as 0)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return value


def _to_text(value: object) -> object:
    return "" if value is None else str(value) if isinstance(value, int | float) else value


def _to_secret(value: object) -> object:
    if value is None or value == "":
        return None
    return str(value) if isinstance(value, int | float) else value


def _lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


OptionalInt = Annotated[int | None, BeforeValidator(_blank_to_none)]
Text = Annotated[str, BeforeValidator(_to_text)]
Secret = Annotated[SecretStr | None, BeforeValidator(_to_secret)]
LineType = Annotated[Literal["cloud", "office"], BeforeValidator(_lower)]
# Documented: success, error, in_progress, wait. Any other value is kept as sent, so that the
# cross-check can report it instead of the whole status failing to parse.
StatusResult = Annotated[str, BeforeValidator(_lower)]

_CONFIG = ConfigDict(frozen=True, extra="ignore", populate_by_name=True, hide_input_in_errors=True)


class SipLine(BaseModel):
    """One SIP line (``voximplant.sip.add`` / ``voximplant.sip.get``)."""

    model_config = _CONFIG

    config_id: int = Field(alias="CONFIG_ID", description="The line's settings id.")
    line_type: LineType = Field(default="cloud", alias="TYPE")
    reg_id: OptionalInt = Field(
        default=None, alias="REG_ID", description="Voximplant registration id (cloud only)."
    )
    title: Text = Field(default="", alias="TITLE")
    server: Text = Field(default="", alias="SERVER", repr=False)
    login: Text = Field(default="", alias="LOGIN", repr=False)
    password: Secret = Field(default=None, alias="PASSWORD", repr=False)
    auth_user: Text = Field(default="", alias="AUTH_USER", repr=False)
    outbound_proxy: Text = Field(default="", alias="OUTBOUND_PROXY", repr=False)
    registration_status_code: OptionalInt = Field(default=None, alias="REGISTRATION_STATUS_CODE")
    registration_error_message: Text = Field(
        default="", alias="REGISTRATION_ERROR_MESSAGE", repr=False
    )
    incoming_server: Text = Field(default="", alias="INCOMING_SERVER", repr=False)
    incoming_login: Text = Field(default="", alias="INCOMING_LOGIN", repr=False)
    incoming_password: Secret = Field(default=None, alias="INCOMING_PASSWORD", repr=False)


class SipStatus(BaseModel):
    """A cloud line's SIP registration as Bitrix24 reports it (``voximplant.sip.status``)."""

    model_config = _CONFIG

    reg_id: int = Field(alias="REG_ID")
    status_result: StatusResult = Field(alias="STATUS_RESULT")
    status_code: OptionalInt = Field(default=None, alias="STATUS_CODE")
    error_message: Text = Field(default="", alias="ERROR_MESSAGE")
    last_updated: Text = Field(
        default="", alias="LAST_UPDATED", description="'YYYY-MM-DD HH:MM:SS', kept as sent."
    )


class ConnectorStatus(BaseModel):
    """The SIP connector's licence (``voximplant.sip.connector.status``)."""

    model_config = _CONFIG

    free_minutes: OptionalInt = Field(default=None, alias="FREE_MINUTES")
    paid: bool = Field(default=False, alias="PAID")
    paid_date_end: Annotated[datetime | None, BeforeValidator(_blank_to_none)] = Field(
        default=None, alias="PAID_DATE_END"
    )


M = TypeVar("M", bound=BaseModel)


def parse(model: type[M], data: object, portal: str) -> M:
    """A result that does not parse is the portal's fault (transient); never echo its input."""
    try:
        return model.model_validate(data)
    except ValidationError:
        # not chained: the validation error would describe the offending (secret) input
        raise UpstreamUnavailable(
            f"Bitrix24 on {portal}: unexpected answer shape for {model.__name__}",
            code="ERROR_UNEXPECTED_ANSWER",
        ) from None


def status_of(outcome: CallOutcome, portal: str) -> SipStatus | SiplineError:
    """A status call's parsed result, or its error."""
    if outcome.error is not None:
        return outcome.error
    try:
        return parse(SipStatus, outcome.result, portal)
    except UpstreamUnavailable as exc:
        return exc


def parse_lines(page: object, portal: str) -> list[SipLine]:
    """One page of ``voximplant.sip.get``."""
    if not isinstance(page, list):
        raise UpstreamUnavailable(
            f"Bitrix24 on {portal}: unexpected answer shape for voximplant.sip.get",
            code="ERROR_UNEXPECTED_ANSWER",
        )
    return [parse(SipLine, item, portal) for item in page]
