"""The settle schedule and the settle state (its headers: tests/runtime/test_headers.py)."""

from __future__ import annotations

import math

import pytest

from worker.domain.settle import SettlePlan, SettleState

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


def test_resume_continues_a_carried_state() -> None:
    carried = SettleState(started_at=NOW - 30.0, attempt=4)

    assert SettleState.resume(carried, now=NOW) == carried


def test_resume_without_a_carried_state_starts_a_fresh_window() -> None:
    assert SettleState.resume(None, now=NOW) == SettleState(started_at=NOW, attempt=0)


def test_resume_restarts_a_start_in_the_future_keeping_the_count() -> None:
    carried = SettleState(started_at=NOW + 3600.0, attempt=2)

    assert SettleState.resume(carried, now=NOW) == SettleState(started_at=NOW, attempt=2)
