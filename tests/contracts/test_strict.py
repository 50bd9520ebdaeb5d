"""Commands are parsed strictly, and the published JSON Schemas say the same as the parser.

Each case is a valid example with one value changed. The worker's parser (the path every
delivery takes) and a JSON Schema validator over the checked-in schema must agree on every
case, with the one exception JSON Schema cannot express: it counts ``7.0`` as an integer.
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from contracts import CONTENT_TYPE
from contracts.examples import COMMANDS as EXAMPLES
from tests.contracts.compat import checked_in
from worker.errors import BadInput
from worker.runtime.parse import parse_command

SCHEMAS = checked_in()
MAX_BYTES = 64 * 1024


def _wire(message_type: str, data: dict[str, Any] | None = None, **top: Any) -> dict[str, Any]:
    wire: dict[str, Any] = json.loads(EXAMPLES[message_type].wire_json())
    if data is not None:
        wire["data"] = data
    return wire | top


def _parser_verdict(wire: dict[str, Any]) -> str:
    """``accepted``, or the reason the parser rejected the body."""
    try:
        parse_command(json.dumps(wire).encode(), CONTENT_TYPE, max_bytes=MAX_BYTES)
    except BadInput as exc:
        return exc.reason
    return "accepted"


def _parser_accepts(wire: dict[str, Any]) -> bool:
    verdict = _parser_verdict(wire)
    assert verdict in ("accepted", "schema_violation"), verdict
    return verdict == "accepted"


def _schema_accepts(wire: dict[str, Any]) -> bool:
    schema = SCHEMAS[f"{wire['type']}.v1.json"]
    return jsonschema.Draft202012Validator(schema).is_valid(wire)


REF = {"config_id": 42}
CREATE = {"title": "t", "server": "sip.example.net", "login": "100", "password": "pw"}

# (case, wire, accepted) — what both the parser and the schema must say
CASES: list[tuple[str, dict[str, Any], bool]] = [
    ("delete: integer", _wire("line.delete", REF), True),
    ("delete: true", _wire("line.delete", {"config_id": True}), False),
    ("delete: false", _wire("line.delete", {"config_id": False}), False),
    ("delete: numeric string", _wire("line.delete", {"config_id": "7"}), False),
    ("delete: zero", _wire("line.delete", {"config_id": 0}), False),
    ("reconcile: true", _wire("line.reconcile", {"config_id": True}), False),
    ("reconcile: string", _wire("line.reconcile", {"config_id": "42"}), False),
    ("update: string id", _wire("line.update", {"config_id": "42", "title": "x"}), False),
    ("update: title only", _wire("line.update", {"config_id": 42, "title": "x"}), True),
    ("update: nothing to change", _wire("line.update", {"config_id": 42}), False),
    ("update: only nulls", _wire("line.update", {"config_id": 42, "title": None}), False),
    ("update: numeric login", _wire("line.update", {"config_id": 42, "login": 100}), False),
    ("create: numeric login", _wire("line.create", {**CREATE, "login": 100200}), False),
    ("create: numeric password", _wire("line.create", {**CREATE, "password": 1234}), False),
    ("create: long password", _wire("line.create", {**CREATE, "password": "p" * 101}), False),
    ("create: 100-char password", _wire("line.create", {**CREATE, "password": "p" * 100}), True),
    ("create: line_type true", _wire("line.create", {**CREATE, "line_type": True}), False),
    ("envelope: time as a number", _wire("line.delete", REF, time=1_764_000_000), False),
    ("envelope: time as RFC 3339", _wire("line.delete", REF, time="2026-11-23T10:15:00Z"), True),
    ("envelope: numeric id", _wire("line.delete", REF, id=12345), False),
    ("sweep: empty data", _wire("portal.sweep", {}), True),
]


@pytest.mark.parametrize(("case", "wire", "accepted"), CASES, ids=[c[0] for c in CASES])
def test_parser_and_schema_agree(case: str, wire: dict[str, Any], accepted: bool) -> None:
    assert _parser_accepts(wire) is accepted
    assert _schema_accepts(wire) is accepted


@pytest.mark.parametrize("message_type", ["line.delete", "line.reconcile"])
def test_a_float_is_not_an_integer_although_json_schema_says_it_is(message_type: str) -> None:
    wire = _wire(message_type, {"config_id": 7.0})
    assert not _parser_accepts(wire)
    assert _schema_accepts(wire)  # documented in docs/contracts.md: write integers plainly


def test_the_rejection_names_the_field_and_never_its_value() -> None:
    secret = "CANARY-strict-3b9e"
    wire = _wire("line.create", {**CREATE, "password": secret, "login": 5})
    with pytest.raises(BadInput) as caught:
        parse_command(json.dumps(wire).encode(), CONTENT_TYPE, max_bytes=MAX_BYTES)
    assert [p.field for p in caught.value.problems] == ["data.login"]
    assert secret not in repr(caught.value.problems) + caught.value.message
