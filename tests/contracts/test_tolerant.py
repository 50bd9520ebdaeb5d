"""Events are read tolerantly, commands strictly.

A later minor version may add a field anywhere inside an event's ``data`` (contract 1.3.0
added ``line.updated``'s ``title``). A consumer on the models or on the JSON Schemas, such as
sipline's own projection or ``sipline events``, reads such an event as the fields it knows
instead of refusing it. A command with a field the worker does not know is refused as
``schema_violation``: dropping it would apply, say, a misspelt optional field as if it were
absent.
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from contracts import CONTENT_TYPE, EVENTS
from contracts.examples import COMMANDS as COMMAND_EXAMPLES
from contracts.examples import EVENTS as EVENT_EXAMPLES
from tests.contracts.compat import NEWER, checked_in, widened
from worker.errors import BadInput
from worker.ops.events.record import LoggedEvent
from worker.runtime.parse import parse_command

SCHEMAS = checked_in()


def _later(message_type: str, wire: bytes) -> dict[str, Any]:
    document = widened(SCHEMAS[f"{message_type}.v1.json"], json.loads(wire))
    assert NEWER in document["data"]
    return document


def _valid(message_type: str, document: dict[str, Any]) -> bool:
    schema = SCHEMAS[f"{message_type}.v1.json"]
    return jsonschema.Draft202012Validator(schema).is_valid(document)


@pytest.mark.parametrize("event_type", sorted(EVENT_EXAMPLES))
def test_an_event_of_a_later_minor_version_is_read_as_the_fields_it_knows(
    event_type: str,
) -> None:
    example = EVENT_EXAMPLES[event_type]
    body = json.dumps(_later(event_type, example.wire_json())).encode()

    assert EVENTS[event_type].model_validate_json(body) == example
    logged = LoggedEvent.parse(0, body)
    assert logged.valid, logged.problem
    assert _valid(event_type, json.loads(body))


def test_every_object_inside_an_event_was_given_an_unknown_field() -> None:
    reconciled = _later("line.reconciled", EVENT_EXAMPLES["line.reconciled"].wire_json())
    swept = _later("portal.swept", EVENT_EXAMPLES["portal.swept"].wire_json())
    rejected = _later("command.rejected", EVENT_EXAMPLES["command.rejected"].wire_json())
    assert NEWER in reconciled["data"]["bitrix24"]
    assert NEWER in reconciled["data"]["voximplant"]
    assert NEWER in swept["data"]["orphans"]
    assert all(NEWER in r for r in swept["data"]["orphans"]["registrations"])
    assert NEWER not in swept["data"]["verdicts"]  # a map, not an object
    assert all(NEWER in e for e in rejected["data"]["errors"])


@pytest.mark.parametrize("event_type", sorted(EVENT_EXAMPLES))
def test_an_event_read_from_a_later_version_is_published_without_what_it_did_not_know(
    event_type: str,
) -> None:
    body = json.dumps(_later(event_type, EVENT_EXAMPLES[event_type].wire_json())).encode()
    again = EVENTS[event_type].model_validate_json(body).wire_json()
    assert NEWER.encode() not in again
    assert again == EVENT_EXAMPLES[event_type].wire_json()


@pytest.mark.parametrize("command_type", sorted(COMMAND_EXAMPLES))
def test_a_command_with_an_unknown_data_field_is_a_schema_violation(command_type: str) -> None:
    document = _later(command_type, COMMAND_EXAMPLES[command_type].wire_json())
    with pytest.raises(BadInput) as caught:
        parse_command(json.dumps(document).encode(), CONTENT_TYPE, max_bytes=64 * 1024)
    assert caught.value.reason == "schema_violation"
    assert [p.field for p in caught.value.problems] == [f"data.{NEWER}"]
    assert not _valid(command_type, document)
