"""The settle schedule and the settle state carried in AMQP headers."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest

from worker.domain.settle import ATTEMPT_HEADER, STARTED_HEADER, SettlePlan, SettleState

PLAN = SettlePlan(intervals=(1.0, 2.0, 5.0, 10.0, 30.0), deadline=120.0)
NOW = 1_714_564_800.0


@pytest.mark.parametrize(
    ("attempt", "elapsed", "expected"),
    [
        pytest.param(1, 0.0, 1.0, id="first-recheck"),
        pytest.param(2, 1.0, 2.0, id="grows"),
        pytest.param(3, 3.0, 5.0, id="grows-again"),
        pytest.param(5, 18.0, 30.0, id="last-interval"),
        pytest.param(6, 48.0, 30.0, id="last-interval-repeats"),
        pytest.param(50, 60.0, 30.0, id="far-past-the-table"),
        pytest.param(0, 0.0, 1.0, id="attempt-zero-is-first"),
        pytest.param(-3, 0.0, 1.0, id="negative-attempt-is-first"),
        pytest.param(8, 108.0, 12.0, id="clipped-to-land-on-deadline"),
        pytest.param(1, 119.5, 0.5, id="clipped-short"),
        pytest.param(8, 120.0, None, id="at-deadline"),
        pytest.param(9, 130.0, None, id="deadline-passed"),
        pytest.param(2, -5.0, 2.0, id="negative-elapsed-counts-as-zero"),
        pytest.param(2, math.nan, None, id="nan-elapsed-times-out"),
        pytest.param(2, math.inf, None, id="infinite-elapsed-times-out"),
    ],
)
def test_next_delay(attempt: int, elapsed: float, expected: float | None) -> None:
    assert PLAN.next_delay(attempt, elapsed) == expected


def test_schedule_ends_exactly_at_the_deadline() -> None:
    plan = SettlePlan(intervals=(1.0, 2.0, 5.0), deadline=20.0)
    elapsed, attempt, delays = 0.0, 1, []
    while (delay := plan.next_delay(attempt, elapsed)) is not None:
        delays.append(delay)
        elapsed += delay
        attempt += 1

    assert delays == [1.0, 2.0, 5.0, 5.0, 5.0, 2.0]
    assert elapsed == 20.0


@pytest.mark.parametrize(
    ("intervals", "deadline"),
    [
        pytest.param((), 120.0, id="no-intervals"),
        pytest.param((1.0, 0.0), 120.0, id="zero-interval"),
        pytest.param((1.0, -2.0), 120.0, id="negative-interval"),
        pytest.param((math.nan,), 120.0, id="nan-interval"),
        pytest.param((1.0,), 0.0, id="zero-deadline"),
        pytest.param((1.0,), math.inf, id="infinite-deadline"),
    ],
)
def test_plan_refuses_nonsense(intervals: tuple[float, ...], deadline: float) -> None:
    with pytest.raises(ValueError):
        SettlePlan(intervals=intervals, deadline=deadline)


def test_state_advances_and_measures() -> None:
    state = SettleState.start(NOW)

    assert state == SettleState(started_at=NOW, attempt=0)
    assert state.advanced().advanced() == SettleState(started_at=NOW, attempt=2)
    assert state.elapsed(NOW + 7.5) == 7.5
    assert state.elapsed(NOW - 3.0) == 0.0


def test_headers_round_trip() -> None:
    state = SettleState(started_at=NOW - 12.25, attempt=3)

    headers = state.to_headers()

    assert headers == {STARTED_HEADER: repr(NOW - 12.25), ATTEMPT_HEADER: 3}
    assert all(not isinstance(v, float) for v in headers.values()), "AMQP may narrow floats"
    assert SettleState.from_headers(headers, now=NOW) == state


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        pytest.param(None, SettleState(NOW, 0), id="no-headers"),
        pytest.param({}, SettleState(NOW, 0), id="empty"),
        pytest.param({"other": 1}, SettleState(NOW, 0), id="unrelated"),
        pytest.param({STARTED_HEADER: NOW - 5}, SettleState(NOW - 5, 0), id="attempt-missing"),
        pytest.param({ATTEMPT_HEADER: 2}, SettleState(NOW, 2), id="started-missing"),
        pytest.param(
            {STARTED_HEADER: "garbage", ATTEMPT_HEADER: "x"}, SettleState(NOW, 0), id="garbage"
        ),
        pytest.param(
            {STARTED_HEADER: str(NOW - 5), ATTEMPT_HEADER: "4"},
            SettleState(NOW - 5, 4),
            id="numeric-strings",
        ),
        pytest.param(
            {STARTED_HEADER: str(NOW - 5).encode(), ATTEMPT_HEADER: b"4"},
            SettleState(NOW - 5, 4),
            id="numeric-bytes",
        ),
        pytest.param(
            {STARTED_HEADER: Decimal(NOW - 5), ATTEMPT_HEADER: Decimal(4)},
            SettleState(NOW - 5, 4),
            id="decimals",
        ),
        pytest.param(
            {STARTED_HEADER: int(NOW) - 5, ATTEMPT_HEADER: 4.0},
            SettleState(NOW - 5, 4),
            id="int-start-float-attempt",
        ),
        pytest.param(
            {STARTED_HEADER: True, ATTEMPT_HEADER: True}, SettleState(NOW, 0), id="booleans"
        ),
        pytest.param(
            {STARTED_HEADER: math.nan, ATTEMPT_HEADER: math.inf}, SettleState(NOW, 0), id="nan-inf"
        ),
        pytest.param({STARTED_HEADER: NOW + 60}, SettleState(NOW, 0), id="start-in-future"),
        pytest.param({ATTEMPT_HEADER: -1}, SettleState(NOW, 0), id="negative-attempt"),
        pytest.param({ATTEMPT_HEADER: 2.5}, SettleState(NOW, 0), id="fractional-attempt"),
        pytest.param({ATTEMPT_HEADER: 10**400}, SettleState(NOW, 0), id="huge-attempt"),
        pytest.param({STARTED_HEADER: [1, 2], ATTEMPT_HEADER: {}}, SettleState(NOW, 0), id="lists"),
    ],
)
def test_headers_tolerate_missing_and_garbled_values(
    headers: dict[str, object] | None, expected: SettleState
) -> None:
    assert SettleState.from_headers(headers, now=NOW) == expected
