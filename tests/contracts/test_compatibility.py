"""A breaking change to the wire contract cannot land by accident.

The checked-in schemas are compared with the frozen shapes in ``snapshots/wire.json``. To break
the contract on purpose, publish a new major version (a new schema file) and keep the old one;
``python -m tests.contracts.compat --add-new`` snapshots the new file.
"""

from __future__ import annotations

import pytest

from tests.contracts.compat import (
    breaking_changes,
    checked_in,
    kind,
    load_snapshot,
    shape,
    unknown_fields_admitted,
)

SNAPSHOT = load_snapshot()
SCHEMAS = checked_in()


def test_every_snapshotted_schema_is_still_published() -> None:
    missing = sorted(set(SNAPSHOT) - set(SCHEMAS))
    assert missing == [], f"schema files removed while still in the snapshot: {missing}"


def test_every_schema_is_snapshotted() -> None:
    new = sorted(set(SCHEMAS) - set(SNAPSHOT))
    assert new == [], f"new schemas {new}: run `python -m tests.contracts.compat --add-new`"


@pytest.mark.parametrize("name", sorted(SNAPSHOT))
def test_no_breaking_change(name: str) -> None:
    frozen = SNAPSHOT[name]
    if name not in SCHEMAS:
        pytest.skip("reported by test_every_snapshotted_schema_is_still_published")
    schema = SCHEMAS[name]
    assert kind(schema) == frozen["kind"]
    problems = breaking_changes(
        name, frozen["fields"], shape(schema), command=frozen["kind"] == "command"
    )
    assert problems == [], "breaking change; publish a new major version instead"


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_commands_refuse_unknown_data_fields_and_events_admit_them(name: str) -> None:
    admitted = unknown_fields_admitted(SCHEMAS[name])
    assert admitted, "no object schema found for data"
    command = kind(SCHEMAS[name]) == "command"
    assert admitted == dict.fromkeys(admitted, not command)


COMMAND = {"id": True, "data": True, "data.config_id": True, "data.title": False}
EVENT = {"id": True, "data": True, "data.config_id": True, "data.reg_id": False}


@pytest.mark.parametrize(
    ("frozen", "current", "command", "expected"),
    [
        (COMMAND, COMMAND | {"data.login": False}, True, []),
        (COMMAND, COMMAND | {"data.login": True}, True, ["x: field 'data.login' is now required"]),
        (COMMAND, COMMAND | {"data.title": True}, True, ["x: field 'data.title' is now required"]),
        (
            COMMAND,
            {k: v for k, v in COMMAND.items() if k != "data.title"},
            True,
            ["x: field 'data.title' was removed"],
        ),
        (EVENT, EVENT | {"data.extra": True}, False, []),
        (EVENT, EVENT | {"data.reg_id": True}, False, []),
        (
            EVENT,
            {k: v for k, v in EVENT.items() if k != "data.reg_id"},
            False,
            ["x: field 'data.reg_id' was removed"],
        ),
        (
            EVENT,
            EVENT | {"data.config_id": False},
            False,
            ["x: field 'data.config_id' is no longer required"],
        ),
    ],
)
def test_the_rules(
    frozen: dict[str, bool], current: dict[str, bool], command: bool, expected: list[str]
) -> None:
    assert breaking_changes("x", frozen, current, command=command) == expected


def test_shape_sees_nested_lists_and_optional_objects() -> None:
    fields = shape(SCHEMAS["command.rejected.v1.json"])
    assert fields["data.errors[].field"] is True
    assert fields["data.command_type"] is False
    assert shape(SCHEMAS["line.reconciled.v1.json"])["data.voximplant.found"] is True
