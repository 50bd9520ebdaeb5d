"""The body of a Voximplant callback request, parsed strictly.

Only the fields the worker acts on are modelled; others (``account_name``,
``account_email``, the payload of callback types the worker does not handle) are ignored.
Numbers must be JSON integers (not ``"42"``, ``42.0`` or ``true``); every list is bounded.
An error names where the body is wrong, never a value from it.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

FAIL = "sip_registration_fail"
RECOVERED = "sip_registration_recovered"
HANDLED_TYPES = (FAIL, RECOVERED)
MAX_CALLBACKS = 1000
MAX_REGISTRATIONS = 1000
BIGINT = 2**63 - 1

_STRICT = ConfigDict(strict=True, extra="ignore", frozen=True, hide_input_in_errors=True)

Id = Annotated[int, Field(ge=0, le=BIGINT)]
Text = Annotated[str, StringConstraints(max_length=1024)]


class MalformedCallbacks(ValueError):
    """The request body is not a callback request; the message says where, not what."""


class RegistrationItem(BaseModel):
    """One entry of ``sip_registrations``."""

    model_config = _STRICT

    sip_registration_id: Annotated[int, Field(ge=1, le=BIGINT)]
    status_code: Text | Annotated[int, Field(ge=0, le=999)] | None = None
    error_message: Text | None = None


class RegistrationsPayload(BaseModel):
    model_config = _STRICT

    sip_registrations: Annotated[list[RegistrationItem], Field(max_length=MAX_REGISTRATIONS)]


class AccountCallback(BaseModel):
    """One callback: who sent it, its proof, and for the two handled types, what changed."""

    model_config = _STRICT

    callback_id: Id
    type: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    account_id: Annotated[int, Field(ge=1, le=BIGINT)]
    hash: Annotated[str, StringConstraints(max_length=128)] | None = None
    sip_registration_fail: RegistrationsPayload | None = None
    sip_registration_recovered: RegistrationsPayload | None = None

    def registrations(self) -> list[RegistrationItem]:
        """The registrations a handled type names (empty for any other type)."""
        payload = getattr(self, self.type, None) if self.type in HANDLED_TYPES else None
        return list(payload.sip_registrations) if payload is not None else []

    @property
    def key(self) -> str:
        """The de-duplication key within the account (the store keeps it as text)."""
        return str(self.callback_id)


class CallbackRequest(BaseModel):
    model_config = _STRICT

    callbacks: Annotated[list[AccountCallback], Field(min_length=1, max_length=MAX_CALLBACKS)]


def parse_callbacks(body: bytes) -> list[AccountCallback]:
    """The callbacks of a request body; raises :class:`MalformedCallbacks`."""
    try:
        request = CallbackRequest.model_validate_json(body)
    except ValidationError as exc:
        errors = exc.errors(include_input=False, include_url=False, include_context=False)
        first = errors[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise MalformedCallbacks(f"{where}: {first['msg']}{more}") from None
    for callback in request.callbacks:
        if callback.type in HANDLED_TYPES and getattr(callback, callback.type) is None:
            index = request.callbacks.index(callback)
            raise MalformedCallbacks(f"callbacks.{index}.{callback.type}: Field required")
    return request.callbacks
