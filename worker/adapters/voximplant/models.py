"""What ``GetSipRegistrations`` takes and returns, typed.

The response model is tolerant: every documented field is optional except the id, unknown
fields are ignored and empty strings in numeric fields read as "absent", because the API
adds fields over time and the cross-check must not break on them.  The filter is strict:
a wrong filter is a programming error, better caught before a request is spent on it.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = ["SipRegistration", "SipRegistrationFilter"]

_STATUS_CODES = r"^\d{3}(:\d{3})?(;\d{3}(:\d{3})?)*$"


class SipRegistration(BaseModel):
    """One SIP registration as the Voximplant account reports it."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    sip_registration_id: int = Field(
        description="The registration id; a Bitrix24 cloud line's REG_ID.", examples=[150907]
    )
    sip_username: str | None = Field(default=None, description="The SIP user name.")
    proxy: str | None = Field(default=None, description="The registrar (the line's server).")
    auth_user: str | None = Field(default=None, description="The authentication user.")
    outbound_proxy: str | None = Field(default=None, description="The outbound proxy.")
    successful: bool | None = Field(
        default=None, description="Whether the last registration attempt succeeded."
    )
    status_code: int | None = Field(
        default=None, description="The SIP response code of the last attempt.", examples=[200]
    )
    error_message: str | None = Field(default=None, description="The registrar's reason.")
    deactivated: bool | None = Field(
        default=None, description="Whether the registration is frozen."
    )
    is_persistent: bool | None = Field(default=None, description="Whether it is persistent.")
    last_updated: float | None = Field(
        default=None, description="When the status last changed (unit undocumented)."
    )
    purchase_date: str | None = Field(default=None, description="When it was purchased.")
    next_subscription_renewal: str | None = Field(
        default=None, description="When the subscription renews."
    )
    subscription_price: Decimal | None = Field(
        default=None, description="The subscription's price."
    )
    user_id: int | None = Field(default=None, description="The bound user's id.")
    user_name: str | None = Field(default=None, description="The bound user's name.")
    application_id: int | None = Field(default=None, description="The bound application's id.")
    application_name: str | None = Field(default=None, description="The bound application's name.")
    rule_id: int | None = Field(default=None, description="The bound rule's id.")
    rule_name: str | None = Field(default=None, description="The bound rule's name.")

    @field_validator(
        "successful",
        "status_code",
        "deactivated",
        "is_persistent",
        "last_updated",
        "subscription_price",
        "user_id",
        "application_id",
        "rule_id",
        mode="before",
    )
    @classmethod
    def _empty_is_absent(cls, value: Any) -> Any:
        return None if value == "" else value


class SipRegistrationFilter(BaseModel):
    """Every documented filter of ``GetSipRegistrations`` (paging is the iterator's job)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sip_registration_id: int | None = Field(default=None, gt=0, description="One registration.")
    sip_username: str | None = Field(default=None, min_length=1, description="A SIP user name.")
    deactivated: bool | None = Field(default=None, description="Frozen registrations only.")
    successful: bool | None = Field(default=None, description="Successful ones only.")
    is_persistent: bool | None = Field(default=None, description="Persistent or not.")
    is_bound_to_application: bool | None = Field(
        default=None, description="Bound to an application or not."
    )
    in_progress: bool | None = Field(default=None, description="Still registering or not.")
    application_id: tuple[int, ...] | None = Field(default=None, min_length=1)
    application_name: tuple[str, ...] | None = Field(default=None, min_length=1)
    rule_id: tuple[int, ...] | None = Field(default=None, min_length=1)
    rule_name: tuple[str, ...] | None = Field(default=None, min_length=1)
    user_id: tuple[int, ...] | None = Field(default=None, min_length=1)
    user_name: tuple[str, ...] | None = Field(default=None, min_length=1)
    proxy: tuple[str, ...] | None = Field(default=None, min_length=1, description="Registrars.")
    status_code: str | None = Field(
        default=None,
        pattern=_STATUS_CODES,
        description="SIP codes: '200', '400:499', '401;403', or combined.",
        examples=["200", "400:499", "401;403:404"],
    )

    @field_validator("application_name", "rule_name", "user_name", "proxy")
    @classmethod
    def _no_separator(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is not None and any(";" in item or not item for item in value):
            raise ValueError("list items must be non-empty and must not contain ';'")
        return value

    @model_validator(mode="after")
    def _alternatives(self) -> SipRegistrationFilter:
        for by_id, by_name in (
            ("application_id", "application_name"),
            ("rule_id", "rule_name"),
            ("user_id", "user_name"),
        ):
            if getattr(self, by_id) is not None and getattr(self, by_name) is not None:
                raise ValueError(f"{by_id} and {by_name} are alternatives: give one")
        return self

    def to_params(self) -> dict[str, str]:
        """The form fields: booleans lowercase, lists joined by ``;``, unset ones left out."""
        params: dict[str, str] = {}
        for name, value in self:
            if value is None:
                continue
            if isinstance(value, bool):
                params[name] = "true" if value else "false"
            elif isinstance(value, tuple):
                params[name] = ";".join(str(item) for item in value)
            else:
                params[name] = str(value)
        return params
