"""The CloudEvents rules of the envelope, and where the password may appear."""

from __future__ import annotations

import json
from typing import Any, TypeVar

import pytest
from pydantic import BaseModel, ValidationError

from contracts import LineCreate, LineUpdate, LineUpdateData
from contracts.examples import COMMANDS as EXAMPLES

CANARY = "CANARY-EXAMPLE-pw-91c2"


def _wire(message_type: str, **changes: Any) -> dict[str, Any]:
    wire: dict[str, Any] = json.loads(EXAMPLES[message_type].wire_json())
    return wire | changes


M = TypeVar("M", bound=BaseModel)


def _parse(model: type[M], wire: dict[str, Any]) -> M:
    """As the worker parses a delivery: strict, from the JSON bytes."""
    return model.model_validate_json(json.dumps(wire))


@pytest.mark.parametrize("message_type", list(EXAMPLES))
def test_a_command_without_portal_is_rejected(message_type: str) -> None:
    wire = _wire(message_type)
    del wire["portal"]
    model = type(EXAMPLES[message_type])
    with pytest.raises(ValidationError, match="portal"):
        _parse(model, wire)


@pytest.mark.parametrize("version", ["0.3", "1.1", "1", "2.0", ""])
def test_specversion_must_be_1_0(version: str) -> None:
    with pytest.raises(ValidationError, match="specversion"):
        _parse(LineCreate, _wire("line.create", specversion=version))


def test_specversion_defaults_to_1_0() -> None:
    wire = _wire("line.create")
    del wire["specversion"]
    assert _parse(LineCreate, wire).specversion == "1.0"


def test_portal_is_lower_cased_and_must_be_a_domain() -> None:
    assert _parse(LineCreate, _wire("line.create", portal="Example.Bitrix24.RU")).portal == (
        "example.bitrix24.ru"
    )
    with pytest.raises(ValidationError, match="portal"):
        _parse(LineCreate, _wire("line.create", portal="not a domain"))


@pytest.mark.parametrize("message_type", ["line.create", "line.update"])
def test_password_is_revealed_only_in_the_wire_form(message_type: str) -> None:
    wire = _wire(message_type)
    wire["data"]["password"] = CANARY
    command = _parse(type(EXAMPLES[message_type]), wire)
    assert CANARY not in repr(command)
    assert CANARY not in str(command)
    assert CANARY not in command.model_dump_json()
    assert CANARY not in json.dumps(command.model_dump(mode="json"))
    assert CANARY in command.wire_json().decode()
    assert type(command).model_validate_json(command.wire_json()) == command


def test_an_update_without_password_has_none_on_the_wire() -> None:
    update = _parse(LineUpdate, _wire("line.update"))
    data = LineUpdateData(config_id=1, title="t")
    update = update.model_copy(update={"data": data})
    assert "password" not in json.loads(update.wire_json())["data"]
    assert data.password is None
