"""Positions, filters and rendering without a broker."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from contracts.examples import EVENTS as EXAMPLES
from worker.ops.events import EventFilter, LoggedEvent, parse_start, parse_time
from worker.ops.events.record import REDACTED, redact_text
from worker.ops.events.render import cells, json_line, summary

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("first", "first"),
        ("LAST", "last"),
        ("next", "next"),
        ("1234", 1234),
        ("2h", NOW - timedelta(hours=2)),
        ("1h30m", NOW - timedelta(minutes=90)),
        ("7d", NOW - timedelta(days=7)),
        ("2026-11-23T10:15:00Z", datetime(2026, 11, 23, 10, 15, tzinfo=UTC)),
        ("2026-11-23T13:15:00+03:00", datetime(2026, 11, 23, 10, 15, tzinfo=UTC)),
        ("2026-11-23 10:15", datetime(2026, 11, 23, 10, 15, tzinfo=UTC)),
    ],
)
def test_positions(text: str, expected: object) -> None:
    assert parse_start(text, now=NOW) == expected


@pytest.mark.parametrize("text", ["", "-1", "yesterday", "2x", "12:00:00Z"])
def test_bad_positions_say_what_is_expected(text: str) -> None:
    with pytest.raises(ValueError, match="expected first, last, next"):
        parse_start(text, now=NOW)
    with pytest.raises(ValueError):
        parse_time(text, now=NOW)


def _logged(offset: int, event_type: str) -> LoggedEvent:
    return LoggedEvent.parse(offset, EXAMPLES[event_type].wire_json())


def test_every_example_event_parses_and_summarises() -> None:
    for offset, event_type in enumerate(EXAMPLES):
        record = _logged(offset, event_type)
        assert record.valid, record.problem
        assert record.type == event_type
        assert summary(record)
        assert len(cells(record)) == 8
        shown = json.loads(json_line(record))
        assert shown["offset"] == offset
        assert shown["event"] == json.loads(EXAMPLES[event_type].wire_json())


def test_filters_on_examples() -> None:
    records = [_logged(i, t) for i, t in enumerate(EXAMPLES)]
    reconciled = _logged(0, "line.reconciled")
    assert reconciled.line is not None
    assert reconciled.verdict is not None

    by_line = EventFilter(line=reconciled.line, types=("line.*",))
    assert all(r.line == reconciled.line for r in records if by_line.matches(r))
    assert EventFilter(verdicts=(reconciled.verdict,)).matches(reconciled)
    assert not EventFilter(verdicts=("deactivated",)).matches(reconciled)
    assert EventFilter(types=("line.*",)).matches(reconciled)
    assert not EventFilter(types=("line.",)).matches(reconciled)
    assert not EventFilter().active
    assert EventFilter(portal="x.example").active
    assert all(EventFilter().matches(r) for r in records)
    undated = LoggedEvent.parse(9, b'{"type": "line.created"}')
    assert not EventFilter(since=NOW).matches(undated)
    assert EventFilter(types=("line.created",)).matches(undated)


def test_line_comes_from_the_subject_when_data_has_none() -> None:
    swept = LoggedEvent.parse(1, b'{"type": "x.y", "subject": "lines/77", "data": {}}')
    assert swept.line == 77
    assert EventFilter(line=77).matches(swept)


def test_password_fields_are_redacted_everywhere() -> None:
    body = json.dumps(
        {"type": "line.updated", "data": {"config_id": 1, "sip_password": "s3cret", "n": [{}]}}
    ).encode()
    record = LoggedEvent.parse(3, body)
    assert "s3cret" not in json_line(record)
    assert record.data["sip_password"] == REDACTED
    assert "s3cret" not in summary(record)
    assert "s3cret" not in redact_text('{"Password": "s3cret", "a": 1}')
    assert "s3cret" not in redact_text('{"password":s3cret}')
