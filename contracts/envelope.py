"""The CloudEvents 1.0 structured-mode envelope shared by every command and event.

Wire format: one JSON object, AMQP content type ``application/cloudevents+json``.
The AMQP properties mirror the envelope (``message_id`` = ``id``, ``type`` = ``type``,
``correlation_id`` = ``correlationid``, ``timestamp`` = ``time``); the envelope is the
source of truth when the two disagree.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, ClassVar, Generic, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, SecretStr, StringConstraints

CONTENT_TYPE = "application/cloudevents+json"
DATA_CONTENT_TYPE = "application/json"
SPEC_VERSION = "1.0"

DataT = TypeVar("DataT", bound=BaseModel)

_LABEL = r"[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?"
PORTAL_PATTERN = rf"^{_LABEL}(\.{_LABEL})+(:\d{{1,5}})?$"

Portal = Annotated[
    str,
    StringConstraints(
        min_length=3,
        max_length=253,
        to_lower=True,
        pattern=PORTAL_PATTERN,
    ),
    Field(
        description="Domain of the Bitrix24 portal the message concerns (CloudEvents extension).",
        examples=["example.bitrix24.ru"],
    ),
]

MessageId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$"),
]


def dataschema_uri(message_type: str, major: int) -> str:
    """The ``dataschema`` URI of one message type at one major version."""
    return f"urn:sipline:schema:{message_type}:v{major}"


class Data(BaseModel):
    """Base of every ``data`` payload: values are immutable. What an unknown field does is
    the side's own rule: a command refuses it (``CommandData``), an event ignores it
    (``EventData``)."""

    model_config = ConfigDict(frozen=True)


class Envelope(BaseModel, Generic[DataT]):
    """CloudEvents 1.0 attributes common to commands and events."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    MESSAGE_TYPE: ClassVar[str] = ""
    SCHEMA_MAJOR: ClassVar[int] = 1

    specversion: Annotated[
        str,
        StringConstraints(pattern=r"^1\.0$"),
        Field(description="CloudEvents version; always 1.0.", examples=["1.0"]),
    ] = SPEC_VERSION
    id: Annotated[
        MessageId,
        Field(
            description=(
                "Unique id of this message. For a command it is also its idempotency key: "
                "events it causes carry it as causationid and have ids derived from it, so a "
                "redelivered or re-sent command yields the same event ids; handlers are "
                "idempotent, so applying it again changes nothing."
            ),
            examples=["01J9Z8Q4C7T1K2M3N4P5Q6R7S8"],
        ),
    ]
    source: Annotated[
        str,
        StringConstraints(min_length=1, max_length=512),
        Field(
            description="URI-reference naming the service that produced the message.",
            examples=["urn:service:crm-provisioning"],
        ),
    ]
    time: Annotated[
        AwareDatetime | None,
        Field(
            description="When the message was produced (RFC 3339, with a zone).",
            examples=["2026-11-23T10:15:00Z"],
        ),
    ] = None
    subject: Annotated[
        str | None,
        StringConstraints(max_length=512),
        Field(
            description="The line (lines/CONFIG_ID) or portal the message concerns.",
            examples=["lines/42"],
        ),
    ] = None
    datacontenttype: Annotated[
        str,
        StringConstraints(pattern=r"^application/json$"),
        Field(description="Media type of data; always application/json."),
    ] = DATA_CONTENT_TYPE
    dataschema: Annotated[
        str | None,
        Field(
            description="URN of the data schema and its major version; optional in commands.",
            examples=["urn:sipline:schema:line.create:v1"],
        ),
    ] = None
    correlationid: Annotated[
        str | None,
        StringConstraints(max_length=128),
        Field(
            description="Id tying together every message of one business operation.",
            examples=["01J9Z8Q4C7T1K2M3N4P5Q6R7S8"],
        ),
    ] = None
    causationid: Annotated[
        str | None,
        StringConstraints(max_length=128),
        Field(
            description="Id of the message that caused this one.",
            examples=["01J9Z8Q4C7T1K2M3N4P5Q6R7S8"],
        ),
    ] = None
    data: DataT

    def wire_json(self) -> bytes:
        """Serialize for the wire: secrets revealed (commands only carry them)."""
        return self.model_dump_json(
            by_alias=True, exclude_none=True, context={"reveal_secrets": True}
        ).encode()


def reveal_secret(value: SecretStr, context: Any) -> str:
    """Serialize a secret: in clear only when the caller asks for the wire form."""
    if isinstance(context, dict) and context.get("reveal_secrets") is True:
        return value.get_secret_value()
    return "**********"


def now_utc() -> datetime:
    """The current time, aware, in UTC."""
    from datetime import UTC

    return datetime.now(UTC)
