"""The pure parts: parsing a dead letter, masking, filters, the export format."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from tests.ops.dlq.conftest import CANARY, sample_body
from worker.errors import BadInput, FieldProblem
from worker.ops.dlq import jsonl
from worker.ops.dlq.filters import Filter, parse_duration
from worker.ops.dlq.masking import MASK, mask_bytes, masked_body
from worker.ops.dlq.model import Properties, Raw, parse
from worker.ops.dlq.summary import summarize
from worker.runtime.headers import ORIGINAL_ROUTING_KEY, record_failure

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def raw(body: bytes, headers: dict[str, object], *, routing_key: str = "line.create") -> Raw:
    return Raw(body, routing_key, Properties(message_id=None), headers)


def failed_headers(at: datetime, attempt: int = 1) -> dict[str, object]:
    error = BadInput(
        "bad", reason="schema_violation", problems=[FieldProblem("data.login", "empty")]
    )
    first = record_failure(
        {},
        error,
        attempt=1,
        reason="schema_violation",
        exchange="x",
        routing_key="line.create",
        version="v",
        now=at,
    )
    if attempt == 1:
        return first
    return record_failure(
        first,
        error,
        attempt=attempt,
        reason="schema_violation",
        exchange="x",
        routing_key="line.create",
        version="v",
        now=at + timedelta(minutes=5),
    )


def test_parses_the_workers_dead_letter() -> None:
    body = sample_body(id_="cmd-1", portal="Example.Bitrix24.ru")
    letter = parse(raw(json.dumps(body).encode(), failed_headers(T0, attempt=2)))
    assert letter.id == "cmd-1"
    assert letter.type == "line.create"
    assert letter.portal == "example.bitrix24.ru"
    assert letter.reason == "schema_violation"
    assert letter.attempts == 2
    assert letter.first_failure == T0
    assert letter.last_failure == T0 + timedelta(minutes=5)
    assert [entry["attempt"] for entry in letter.history] == [1, 2]
    assert letter.field_errors == [{"field": "data.login", "problem": "empty"}]
    assert letter.replay_count == 0
    assert not letter.broker_made
    assert letter.age(T0 + timedelta(minutes=65)) == timedelta(hours=1)


def test_parses_a_broker_dead_letter_and_a_body_that_is_not_json() -> None:
    headers = {
        "x-death": [
            {
                "count": 1,
                "reason": "delivery_limit",
                "queue": "p.commands",
                "time": T0,
                "exchange": "p.commands",
                "routing-keys": ["line.delete"],
            }
        ],
        "x-first-death-reason": "delivery_limit",
    }
    letter = parse(raw(b"\xff\xfe not json", headers, routing_key="line.delete"))
    assert letter.broker_made
    assert letter.reason == "delivery_limit"
    assert letter.type == "line.delete"
    assert letter.first_failure == letter.last_failure == T0
    assert letter.attempts is None
    assert letter.portal is None
    assert letter.id.startswith("sha256:")
    assert letter.event_id_safe is None
    assert letter.history[0]["code"] == "delivery_limit"


def test_masks_passwords_at_any_depth_in_any_case_and_in_broken_bodies() -> None:
    body = json.dumps({"data": {"Password": CANARY, "nested": [{"PASSWORD": CANARY}]}})
    assert CANARY not in masked_body(body.encode())
    assert MASK in masked_body(body.encode())
    truncated = b'{"data": {"password": "' + CANARY.encode() + b'", "login": "1'
    assert CANARY not in masked_body(truncated)
    unterminated = b'{"password": "' + CANARY.encode()
    assert CANARY not in masked_body(unterminated)
    not_utf8 = b'\xff{"password": "' + CANARY.encode() + b'"}'
    assert CANARY.encode() not in mask_bytes(not_utf8)
    assert mask_bytes(not_utf8).startswith(b"\xff")


def test_durations() -> None:
    assert parse_duration("30m") == timedelta(minutes=30)
    assert parse_duration("2h") == timedelta(hours=2)
    assert parse_duration("7d") == timedelta(days=7)
    assert parse_duration("1.5s") == timedelta(seconds=1.5)
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration("soon")


def test_filters_combine_and_never_match_the_password() -> None:
    body = json.dumps(sample_body(id_="cmd-2")).encode()
    letter = parse(raw(body, failed_headers(T0)))
    now = T0 + timedelta(hours=3)
    assert Filter().matches(letter, now)
    assert Filter(types=frozenset({"line.*"}), reasons=frozenset({"schema_violation"})).matches(
        letter, now
    )
    assert not Filter(types=frozenset({"portal.*"})).matches(letter, now)
    assert Filter(older_than=timedelta(hours=2)).matches(letter, now)
    assert not Filter(older_than=timedelta(hours=4)).matches(letter, now)
    assert Filter(newer_than=timedelta(hours=4)).matches(letter, now)
    assert Filter(text="SIP.EXAMPLE").matches(letter, now)
    assert Filter(text="too short").matches(letter, now) is False
    assert not Filter(text=CANARY).matches(letter, now)
    assert Filter(portals=frozenset({"*.bitrix24.ru"}), ids=frozenset({"cmd-2"})).matches(
        letter, now
    )


def test_summary_groups_by_reason_and_type() -> None:
    body = json.dumps(sample_body()).encode()
    letters = [
        parse(raw(body, failed_headers(T0))),
        parse(raw(body, failed_headers(T0 + timedelta(hours=1)))),
        parse(raw(body, {**failed_headers(T0), ORIGINAL_ROUTING_KEY: "line.delete"})),
    ]
    groups = summarize(letters)
    assert [(g.reason, g.type, g.count) for g in groups] == [
        ("schema_violation", "line.create", 2),
        ("schema_violation", "line.delete", 1),
    ]
    assert groups[0].first_failure == T0
    assert groups[0].last_failure == T0 + timedelta(hours=1)


def test_export_records_round_trip_every_header_type_and_any_body() -> None:
    headers = {
        "text": "é",
        "n": 3,
        "f": 1.5,
        "flag": True,
        "none": None,
        "raw": b"\x00\xff",
        "when": T0,
        "dec": Decimal("1.25"),
        "x-death": [{"time": T0, "routing-keys": ["a"], "$odd": 1}],
    }
    original = Raw(
        b"\xff\xfe\x00binary",
        "line.create",
        Properties(message_id="m-1", timestamp=T0, priority=3, persistent=False),
        headers,
    )
    line = jsonl.encode(parse(original))
    assert "\n" not in line
    assert jsonl.decode(line) == original


def test_masked_exports_cannot_be_imported() -> None:
    body = json.dumps(sample_body()).encode()
    line = jsonl.encode(parse(raw(body, failed_headers(T0))), mask=True)
    assert CANARY not in line
    with pytest.raises(ValueError, match="mask-secrets"):
        jsonl.decode(line)
