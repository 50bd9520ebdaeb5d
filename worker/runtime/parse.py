"""Turn a delivery's bytes into a validated command, or a :class:`BadInput` that says why.

The checks run cheapest first: size, content type, encoding, JSON, type, version, schema.
Error texts name fields and constraints, never the values: a value may be a password.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import Field, TypeAdapter, ValidationError

from contracts import COMMANDS, CONTENT_TYPE, AnyCommand, Command, dataschema_uri
from worker.errors import BadInput, FieldProblem

ACCEPTED_CONTENT_TYPES = frozenset({CONTENT_TYPE})

# One pass from bytes to a command for the common, valid case; a failure falls back to the
# step-by-step checks below, which say exactly what is wrong.
_FAST = TypeAdapter(Annotated[AnyCommand, Field(discriminator="type")])


def _media_type(content_type: str | None) -> str | None:
    if content_type is None:
        return None
    return content_type.split(";", 1)[0].strip().lower()


def _check_size_and_type(body: bytes, content_type: str | None, *, max_bytes: int) -> None:
    if len(body) > max_bytes:
        raise BadInput(
            f"body is {len(body)} bytes, over the {max_bytes}-byte limit",
            reason="body_too_large",
            problems=[FieldProblem("body", f"larger than {max_bytes} bytes")],
        )
    if content_type == CONTENT_TYPE:  # the usual case, without parsing parameters
        return
    media = _media_type(content_type)
    if media not in ACCEPTED_CONTENT_TYPES:
        raise BadInput(
            f"content type {content_type!r} is not {CONTENT_TYPE}",
            reason="wrong_content_type",
            problems=[FieldProblem("content_type", f"must be {CONTENT_TYPE}")],
        )


def check_envelope(body: bytes, content_type: str | None, *, max_bytes: int) -> dict[str, Any]:
    """Size, content type, encoding and JSON object checks; returns the decoded object."""
    _check_size_and_type(body, content_type, max_bytes=max_bytes)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadInput(
            f"body is not valid UTF-8 (byte {exc.start})",
            reason="invalid_encoding",
            problems=[FieldProblem("body", "not valid UTF-8")],
        ) from None
    try:
        decoded = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        where = (
            f" at line {exc.lineno} column {exc.colno}"
            if isinstance(exc, json.JSONDecodeError)
            else ""
        )
        raise BadInput(
            f"body is not JSON{where}",
            reason="not_json",
            problems=[FieldProblem("body", "not a JSON document")],
        ) from None
    if not isinstance(decoded, dict):
        raise BadInput(
            "body is JSON but not an object",
            reason="schema_violation",
            problems=[FieldProblem("body", "must be a JSON object")],
        )
    return decoded


def claimed_type(decoded: dict[str, Any]) -> str | None:
    value = decoded.get("type")
    return value if isinstance(value, str) else None


def _model_for(decoded: dict[str, Any]) -> type[Command]:
    message_type = claimed_type(decoded)
    if message_type is None:
        raise BadInput(
            "the envelope has no type",
            reason="schema_violation",
            problems=[FieldProblem("type", "missing or not a string")],
        )
    model = COMMANDS.get(message_type)
    if model is None:
        raise BadInput(
            f"unknown command type {message_type[:64]!r}",
            reason="unknown_type",
            problems=[FieldProblem("type", f"must be one of {', '.join(sorted(COMMANDS))}")],
        )
    dataschema = decoded.get("dataschema")
    expected = dataschema_uri(model.MESSAGE_TYPE, model.SCHEMA_MAJOR)
    if dataschema is not None and dataschema != expected:
        raise BadInput(
            f"dataschema is not {expected}",
            reason="unsupported_version",
            problems=[FieldProblem("dataschema", f"this worker accepts {expected}")],
        )
    return model


def _problems(exc: ValidationError) -> list[FieldProblem]:
    problems = []
    for err in exc.errors(include_input=False, include_url=False, include_context=False):
        location = ".".join(str(part) for part in err["loc"]) or "body"
        problems.append(FieldProblem(location, err["msg"]))
    return problems


def parse_command(body: bytes, content_type: str | None, *, max_bytes: int) -> Command:
    """Validate one delivery; raises :class:`BadInput` with the reason and field problems."""
    if content_type != CONTENT_TYPE or len(body) > max_bytes:  # the usual case: no call
        _check_size_and_type(body, content_type, max_bytes=max_bytes)
    try:
        command: Command = _FAST.validate_json(body)
    except ValueError:
        pass  # the detailed path below explains what is wrong
    else:
        # most commands name no dataschema: the expected one is built only to compare
        if command.dataschema is None or command.dataschema == dataschema_uri(
            command.MESSAGE_TYPE, command.SCHEMA_MAJOR
        ):
            return command
    decoded = check_envelope(body, content_type, max_bytes=max_bytes)
    model = _model_for(decoded)
    try:
        return model.model_validate_json(body)  # strict: JSON mode reads RFC 3339 times
    except ValidationError as exc:
        problems = _problems(exc)
        fields = ", ".join(p.field for p in problems[:5])
        raise BadInput(
            f"{model.MESSAGE_TYPE} does not match its schema ({fields})",
            reason="schema_violation",
            problems=problems,
        ) from None
