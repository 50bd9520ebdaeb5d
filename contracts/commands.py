"""Commands: what other services publish to the ``sipline.commands`` exchange.

Routing key = ``type``. Every command names its portal (the ``portal`` extension attribute).
A password appears in ``line.create`` and ``line.update`` and nowhere else: it is a
``SecretStr`` that prints as ``**********`` and is only revealed in the wire form.

Commands are parsed in pydantic's strict mode: a value must already have its schema's JSON
type (``"config_id": "7"``, ``7.0`` or ``true`` is refused, not coerced into 7 or 1). Parse
the wire bytes with ``model_validate_json``: strict JSON still reads an RFC 3339 string as
the ``time``, while strict Python validation of a ``json.loads`` dict would not.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    ConfigDict,
    Field,
    FieldSerializationInfo,
    SecretStr,
    StringConstraints,
    field_serializer,
    field_validator,
    model_validator,
)

from contracts.envelope import Data, Envelope, Portal, reveal_secret

Title = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=255),
    Field(description="Line title, unique within the portal.", examples=["Office SIP trunk"]),
]
Server = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
    Field(
        description="SIP server (registrar) host, optionally with :port.",
        examples=["sip.example.net"],
    ),
]
Login = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
    Field(description="SIP login (user name).", examples=["100200"]),
]
MAX_PASSWORD = 100

Password = Annotated[
    SecretStr,
    Field(
        json_schema_extra={"maxLength": MAX_PASSWORD},  # checked by _check_password
        description="SIP password (at most 100 characters). Never echoed in events or logs.",
        examples=["EXAMPLE-not-a-real-password"],
    ),
]
ConfigId = Annotated[
    int,
    Field(
        gt=0,
        description=(
            "The line's CONFIG_ID in Bitrix24: a JSON integer written without a fraction "
            '(42; not 42.0, "42" or true).'
        ),
        examples=[42],
    ),
]

STRICT = ConfigDict(strict=True, hide_input_in_errors=True)
"""Commands are strict (no coercion) and never quote an input value (it may be a password)."""


class CommandData(Data):
    """Base of every command's ``data``: strict, unknown fields refused (a misspelt optional
    field would otherwise be dropped without a word and the command applied without it)."""

    model_config = STRICT | ConfigDict(extra="forbid")


class _PasswordData(CommandData):
    @field_validator("password", check_fields=False)
    @classmethod
    def _check_password(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) > MAX_PASSWORD:
            raise ValueError(f"password is longer than {MAX_PASSWORD} characters")
        return value

    @field_serializer("password", check_fields=False)
    def _password(self, value: SecretStr | None, info: FieldSerializationInfo) -> str | None:
        return None if value is None else reveal_secret(value, info.context)


class LineCreateData(_PasswordData):
    """Create a SIP line (cloud PBX by default)."""

    title: Title
    server: Server
    login: Login
    password: Password
    line_type: Literal["cloud", "office"] = Field(
        default="cloud",
        description="cloud: Voximplant registers the line; office: the PBX registers itself.",
    )


UpdatableField = Literal["title", "server", "login", "password"]
_UPDATABLE: tuple[UpdatableField, ...] = ("title", "server", "login", "password")


class LineUpdateData(_PasswordData):
    """Change one or more settings of an existing line."""

    model_config = STRICT | ConfigDict(
        json_schema_extra={
            "anyOf": [
                {"required": [name], "properties": {name: {"type": "string"}}}
                for name in _UPDATABLE
            ]
        }
    )

    config_id: ConfigId
    title: Title | None = Field(default=None, description="New title; omit to keep it.")
    server: Server | None = Field(default=None, description="New SIP server; omit to keep it.")
    login: Login | None = Field(default=None, description="New SIP login; omit to keep it.")
    password: Password | None = Field(
        default=None, description="New SIP password; omit to keep it."
    )

    @model_validator(mode="after")
    def _at_least_one(self) -> LineUpdateData:
        if all(getattr(self, name) is None for name in _UPDATABLE):
            raise ValueError("at least one of title, server, login, password is required")
        return self

    def changed_fields(self) -> list[UpdatableField]:
        """Names of the fields this update sets, in contract order."""
        return [n for n in _UPDATABLE if getattr(self, n) is not None]


class LineRefData(CommandData):
    """Names one existing line."""

    config_id: ConfigId


class PortalSweepData(CommandData):
    """No parameters: every line of the portal is reconciled."""


class Command(Envelope[Any]):
    """Base of every command: the portal is required; parsed strictly (see the module)."""

    model_config = Envelope.model_config | STRICT

    portal: Portal


class LineCreate(Command):
    """``line.create``: create a line if no line with that title, server and login exists."""

    MESSAGE_TYPE = "line.create"
    type: Literal["line.create"] = Field(description="The command type; also the routing key.")
    data: LineCreateData


class LineUpdate(Command):
    """``line.update``: apply changes to a line; changing server, login or password re-registers."""

    MESSAGE_TYPE = "line.update"
    type: Literal["line.update"] = Field(description="The command type; also the routing key.")
    data: LineUpdateData


class LineDelete(Command):
    """``line.delete``: delete a line; deleting an absent line succeeds (``already_absent``)."""

    MESSAGE_TYPE = "line.delete"
    type: Literal["line.delete"] = Field(description="The command type; also the routing key.")
    data: LineRefData


class LineReconcile(Command):
    """``line.reconcile``: cross-check one line against Voximplant again."""

    MESSAGE_TYPE = "line.reconcile"
    type: Literal["line.reconcile"] = Field(description="The command type; also the routing key.")
    data: LineRefData


class PortalSweep(Command):
    """``portal.sweep``: reconcile every line of the portal."""

    MESSAGE_TYPE = "portal.sweep"
    type: Literal["portal.sweep"] = Field(description="The command type; also the routing key.")
    data: PortalSweepData = Field(default_factory=PortalSweepData)


AnyCommand = LineCreate | LineUpdate | LineDelete | LineReconcile | PortalSweep

COMMANDS: dict[str, type[Command]] = {
    model.MESSAGE_TYPE: model
    for model in (LineCreate, LineUpdate, LineDelete, LineReconcile, PortalSweep)
}
