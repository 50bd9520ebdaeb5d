"""Every example validates against its model and its JSON Schema, and no example leaks."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from contracts import COMMANDS, EVENTS, Envelope
from contracts.examples import COMMANDS as COMMAND_EXAMPLES
from contracts.examples import EVENTS as EVENT_EXAMPLES
from contracts.examples import FAKE_PASSWORD_MARK
from contracts.generate import json_schemas, schema_file_name

EXAMPLES: dict[str, Envelope[Any]] = {**COMMAND_EXAMPLES, **EVENT_EXAMPLES}
SCHEMAS = json_schemas()


def _keys(node: Any) -> set[str]:
    if isinstance(node, dict):
        return set(node) | {k for v in node.values() for k in _keys(v)}
    if isinstance(node, list):
        return {k for v in node for k in _keys(v)}
    return set()


def test_there_is_one_example_per_message_type() -> None:
    assert list(COMMAND_EXAMPLES) == list(COMMANDS)
    assert list(EVENT_EXAMPLES) == list(EVENTS)


@pytest.mark.parametrize("message_type", list(EXAMPLES))
def test_example_round_trips_through_its_model(message_type: str) -> None:
    example = EXAMPLES[message_type]
    model = {**COMMANDS, **EVENTS}[message_type]
    assert type(example) is model
    assert example.type == message_type  # type: ignore[attr-defined]
    assert model.model_validate_json(example.wire_json()) == example


@pytest.mark.parametrize("message_type", list(EXAMPLES))
def test_example_validates_against_its_json_schema(message_type: str) -> None:
    example = EXAMPLES[message_type]
    schema = SCHEMAS[schema_file_name(type(example))]
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    errors = [e.message for e in validator.iter_errors(json.loads(example.wire_json()))]
    assert errors == []


@pytest.mark.parametrize("message_type", list(COMMAND_EXAMPLES))
def test_example_passwords_are_obviously_fake(message_type: str) -> None:
    data = json.loads(COMMAND_EXAMPLES[message_type].wire_json())["data"]
    if "password" in data:
        assert FAKE_PASSWORD_MARK in data["password"]


@pytest.mark.parametrize("message_type", list(EVENT_EXAMPLES))
def test_events_carry_no_secret_field(message_type: str) -> None:
    keys = _keys(json.loads(EVENT_EXAMPLES[message_type].wire_json()))
    assert not keys & {"password", "webhook_url", "access_token", "refresh_token", "secret"}


def test_the_schemas_refuse_what_the_models_refuse() -> None:
    wire = json.loads(COMMAND_EXAMPLES["line.create"].wire_json())
    validator = jsonschema.Draft202012Validator(SCHEMAS["line.create.v1.json"])
    without_server = {**wire, "data": {k: v for k, v in wire["data"].items() if k != "server"}}
    with_typo = {**wire, "data": {**wire["data"], "pasword": "x"}}
    assert not validator.is_valid(without_server)
    assert not validator.is_valid(with_typo)


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_schema_has_id_dialect_title_and_described_fields(name: str) -> None:
    schema = SCHEMAS[name]
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    message_type, major = name.removesuffix(".json").rsplit(".v", 1)
    assert schema["$id"] == f"urn:sipline:schema:{message_type}:v{major}"
    assert schema["title"]
    assert schema["description"]
    objects = [schema, *schema.get("$defs", {}).values()]
    undocumented = [
        f"{obj.get('title', name)}.{field}"
        for obj in objects
        for field, node in obj.get("properties", {}).items()
        if "description" not in node and "$ref" not in node
    ]
    assert undocumented == []


def test_password_fields_are_write_only() -> None:
    for name in ("line.create.v1.json", "line.update.v1.json"):
        data = SCHEMAS[name]["$defs"][f"{'LineCreate' if 'create' in name else 'LineUpdate'}Data"]
        node = data["properties"]["password"]
        node = next((b for b in node.get("anyOf", []) if b.get("type") != "null"), node)
        assert node["type"] == "string"
        assert node["format"] == "password"
        assert node["writeOnly"] is True
