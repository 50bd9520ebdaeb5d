"""The x-sipline-* headers: every claim is checked and clamped, everything written encodes."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pamqp.encode import field_table

from worker.domain.settle import SettleState
from worker.errors import BadInput, FieldProblem, TransientError
from worker.runtime import headers as h

NOW = 1_714_564_800.0
ORIGIN = h.Origin("sipline.commands", "1.2.3")
ERROR = TransientError("portal unavailable", code="INTERNAL_SERVER_ERROR")
DEEP = "[" * 20_000 + "]" * 20_000


def dead(received: h.Received, **kw: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "attempt": received.attempt,
        "reason": "retries_exhausted",
        "routing_key": "line.reconcile",
        "origin": ORIGIN,
    }
    values.update(kw)
    return h.failure_headers(received, ERROR, **values)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(None, 1, id="missing"),
        pytest.param(2, 2, id="int"),
        pytest.param("2", 2, id="text"),
        pytest.param(b"2", 2, id="bytes"),
        pytest.param(2.0, 2, id="whole-float"),
        pytest.param(Decimal(2), 2, id="decimal"),
        pytest.param(3, 3, id="the-budget"),
        pytest.param(4, 3, id="above-the-budget-is-the-last-attempt"),
        pytest.param(2**62, 3, id="huge-int"),
        pytest.param("99999999999999999999", 3, id="huge-text"),
        pytest.param("1e19", 3, id="exponent-text"),
        pytest.param("9" * 5000, 1, id="absurdly-long-text"),
        pytest.param(0, 1, id="zero"),
        pytest.param(-5, 1, id="negative"),
        pytest.param("-99999999999999999999", 1, id="huge-negative-text"),
        pytest.param(2.5, 1, id="fraction"),
        pytest.param(math.nan, 1, id="nan"),
        pytest.param(math.inf, 1, id="inf"),
        pytest.param("two", 1, id="word"),
        pytest.param(True, 1, id="bool"),
        pytest.param([1, 2], 1, id="list"),
        pytest.param({"a": 1}, 1, id="table"),
    ],
)
def test_attempt_is_a_claim_clamped_to_the_budget(value: object, expected: int) -> None:
    received = h.read({h.ATTEMPT: value}, max_attempts=3)

    assert received.attempt == expected


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        pytest.param({}, None, id="none"),
        pytest.param({h.SETTLE_STARTED: NOW - 5}, SettleState(NOW - 5, 0), id="attempt-missing"),
        pytest.param({h.SETTLE_ATTEMPT: 2}, None, id="started-missing"),
        pytest.param({h.SETTLE_STARTED: "garbage", h.SETTLE_ATTEMPT: "x"}, None, id="garbage"),
        pytest.param(
            {h.SETTLE_STARTED: repr(NOW - 5), h.SETTLE_ATTEMPT: "4"},
            SettleState(NOW - 5, 4),
            id="numeric-text",
        ),
        pytest.param(
            {h.SETTLE_STARTED: str(NOW - 5).encode(), h.SETTLE_ATTEMPT: b"4"},
            SettleState(NOW - 5, 4),
            id="numeric-bytes",
        ),
        pytest.param(
            {h.SETTLE_STARTED: Decimal(NOW - 5), h.SETTLE_ATTEMPT: Decimal(4)},
            SettleState(NOW - 5, 4),
            id="decimals",
        ),
        pytest.param(
            {h.SETTLE_STARTED: int(NOW) - 5, h.SETTLE_ATTEMPT: 4.0},
            SettleState(NOW - 5, 4),
            id="int-start-float-attempt",
        ),
        pytest.param(
            {h.SETTLE_STARTED: NOW, h.SETTLE_ATTEMPT: "1e19"},
            SettleState(NOW, h.SETTLE_ATTEMPT_LIMIT),
            id="huge-attempt-clamped",
        ),
        pytest.param(
            {h.SETTLE_STARTED: NOW, h.SETTLE_ATTEMPT: 10**400},
            SettleState(NOW, h.SETTLE_ATTEMPT_LIMIT),
            id="enormous-attempt-clamped",
        ),
        pytest.param(
            {h.SETTLE_STARTED: NOW, h.SETTLE_ATTEMPT: -1}, SettleState(NOW, 0), id="negative"
        ),
        pytest.param(
            {h.SETTLE_STARTED: NOW, h.SETTLE_ATTEMPT: 2.5}, SettleState(NOW, 0), id="fraction"
        ),
        pytest.param({h.SETTLE_STARTED: True, h.SETTLE_ATTEMPT: True}, None, id="booleans"),
        pytest.param({h.SETTLE_STARTED: math.nan}, None, id="nan"),
        pytest.param({h.SETTLE_STARTED: "inf"}, None, id="inf"),
        pytest.param({h.SETTLE_STARTED: -1.0}, None, id="before-the-epoch"),
        pytest.param({h.SETTLE_STARTED: [1, 2], h.SETTLE_ATTEMPT: {}}, None, id="lists"),
    ],
)
def test_settle_progress_is_checked(values: dict[str, object], expected: SettleState) -> None:
    assert h.read(values).settle == expected


def test_settle_progress_round_trips_as_text() -> None:
    state = SettleState(started_at=NOW - 12.25, attempt=3)

    written = h.follow_up_headers(state, tier="d1s")

    assert written == {h.SETTLE_STARTED: repr(NOW - 12.25), h.SETTLE_ATTEMPT: 3, h.DELAY: "d1s"}
    assert not any(isinstance(v, float) for v in written.values()), "AMQP may narrow floats"
    assert h.read(written).settle == state


def test_the_publishers_headers_are_kept_and_forged_worker_headers_are_not() -> None:
    received = h.read(
        {
            "traceparent": "00-abc",
            "x-death": [{"count": 1}],
            h.REASON: "forged",
            h.FIELD_ERRORS: "[1]",
            h.WORKER_VERSION: b"0.0",
            h.DELAY: "d1s",
            "x-sipline-anything": 1,
        }
    )

    written = dead(received)

    assert written["traceparent"] == "00-abc"
    assert "x-death" not in written
    assert "x-sipline-anything" not in written
    assert h.DELAY not in written
    assert h.FIELD_ERRORS not in written
    assert written[h.REASON] == "retries_exhausted"
    assert written[h.WORKER_VERSION] == "1.2.3"


@pytest.mark.parametrize(
    "failures",
    [
        pytest.param(DEEP, id="20k-deep"),
        pytest.param(DEEP.encode(), id="20k-deep-bytes"),
        pytest.param("[" + "1" * 5000 + "]", id="huge-number"),
        pytest.param("x" * (h.HISTORY_BYTES + 1), id="too-long"),
        pytest.param("{not json", id="not-json"),
        pytest.param('{"a": 1}', id="not-a-list"),
        pytest.param(7, id="an-int"),
        pytest.param([1, 2], id="an-amqp-array"),
    ],
)
def test_a_garbled_failure_history_is_dropped(failures: object) -> None:
    received = h.read({h.FAILURES: failures})

    written = dead(received)

    history = json.loads(written[h.FAILURES])
    assert [entry["code"] for entry in history] == ["INTERNAL_SERVER_ERROR"]
    field_table(written)


def test_history_entries_are_trimmed_and_bounded() -> None:
    forged = [
        {"at": "x" * 100, "attempt": 10**30, "code": "C" * 200, "message": "m" * 1200, "pw": "s"}
    ] * 25
    received = h.read({h.FAILURES: json.dumps(forged)})

    history = json.loads(dead(received)[h.FAILURES])

    assert len(history) == h.HISTORY_LIMIT
    assert history[0] == {
        "at": None,
        "attempt": h.ATTEMPT_LIMIT,
        "code": None,
        "message": "m" * 1000,
    }


def test_a_failure_keeps_the_first_failure_and_the_origin() -> None:
    first = datetime(2026, 11, 1, tzinfo=UTC)
    once = h.record_failure(
        {},
        ERROR,
        attempt=1,
        reason="retrying",
        exchange="sipline.commands",
        routing_key="line.reconcile",
        version="1",
        now=first,
    )

    twice = dead(h.read(once), now=datetime(2026, 11, 2, tzinfo=UTC))

    assert twice[h.FIRST_FAILURE] == first.isoformat()
    assert twice[h.ORIGINAL_ROUTING_KEY] == "line.reconcile"
    assert len(json.loads(twice[h.FAILURES])) == 2


def test_a_bad_input_records_its_field_problems() -> None:
    error = BadInput("bad", reason="schema_violation", problems=[FieldProblem("data.x", "no")])

    written = h.failure_headers(
        h.read(None),
        error,
        attempt=1,
        reason="schema_violation",
        routing_key="line.create",
        origin=ORIGIN,
    )

    assert json.loads(written[h.FIELD_ERRORS]) == [{"field": "data.x", "problem": "no"}]


def test_a_retry_counts_the_next_attempt_and_keeps_the_settle_progress() -> None:
    received = h.read({h.ATTEMPT: 2, h.SETTLE_STARTED: repr(NOW), h.SETTLE_ATTEMPT: 5})

    written = h.retry_headers(
        received, ERROR, attempt=2, tier="d1s", routing_key="line.reconcile", origin=ORIGIN
    )

    assert written[h.ATTEMPT] == 3
    assert written[h.DELAY] == "d1s"
    assert h.read(written).settle == SettleState(NOW, 5)


def test_a_replay_keeps_the_publishers_headers_and_counts_the_replay() -> None:
    received = h.read({h.SETTLE_STARTED: repr(NOW), h.SETTLE_ATTEMPT: 5, "traceparent": "t"})
    letter = dead(received)
    letter["x-death"] = [{"count": 1}]
    letter["x-delivery-count"] = 3
    letter[h.DELAY] = "d1s"

    copy = h.for_replay(letter, replay_count=2)

    assert copy == {"traceparent": "t", h.REPLAY_COUNT: 2}
    assert h.read(copy).settle is None
    assert h.read(copy).attempt == 1


header_values = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=80)
    | st.binary(max_size=80)
    | st.decimals(allow_nan=False, allow_infinity=False)
    | st.lists(st.integers(min_value=-(2**63), max_value=2**63 - 1), max_size=3)
)
names = st.sampled_from(
    [
        h.ATTEMPT,
        h.SETTLE_STARTED,
        h.SETTLE_ATTEMPT,
        h.FAILURES,
        h.FIRST_FAILURE,
        h.ORIGINAL_EXCHANGE,
        h.ORIGINAL_ROUTING_KEY,
        h.REPLAY_COUNT,
        h.REASON,
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(names, header_values), st.integers(min_value=1, max_value=50))
def test_whatever_the_claims_what_the_worker_writes_encodes(
    values: dict[str, object], budget: int
) -> None:
    received = h.read(values, max_attempts=budget)

    assert 1 <= received.attempt <= budget
    if received.settle is not None:
        assert math.isfinite(received.settle.started_at)
        assert 0 <= received.settle.attempt <= h.SETTLE_ATTEMPT_LIMIT
    retry = h.retry_headers(
        received,
        ERROR,
        attempt=received.attempt,
        tier="d1s",
        routing_key="line.reconcile",
        origin=ORIGIN,
    )
    settle = SettleState.resume(received.settle, now=NOW).advanced()
    for written in (dead(received), retry, h.follow_up_headers(settle, tier="d1s")):
        field_table(written)
