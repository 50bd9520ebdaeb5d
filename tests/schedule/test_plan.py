"""The schedule's pure parts: phases spread portals, slots, how a tick waits, the tick."""

from __future__ import annotations

import json

import pytest

from worker.schedule.plan import (
    EARLY,
    HOP_BASE,
    following,
    hop,
    next_slot,
    phase,
    tolerance,
    wait_for,
)
from worker.schedule.tick import BadTick, Tick, parse


def test_phases_spread_many_portals_over_the_interval() -> None:
    interval = 300.0
    buckets = [0] * 10
    for n in range(10_000):
        buckets[int(phase(f"p{n}.bitrix24.ru", interval) / interval * 10)] += 1
    assert min(buckets) > 900, buckets  # each tenth of the interval holds about a tenth
    assert phase("A.bitrix24.ru", interval) == phase("a.bitrix24.ru", interval)


def test_next_slot_is_on_the_portal_grid_and_strictly_after() -> None:
    interval, portal = 60.0, "x.bitrix24.ru"
    for after in (0.0, 1_000_000.5, 1_700_000_000.0):
        slot = next_slot(portal, interval, after)
        assert after < slot <= after + interval
        assert (slot - phase(portal, interval)) % interval == pytest.approx(0, abs=1e-6)
    slot = next_slot(portal, interval, 1_700_000_000.0)
    assert next_slot(portal, interval, slot) == pytest.approx(slot + interval)


def test_following_keeps_the_grid_and_skips_missed_slots() -> None:
    assert following("x", 10.0, due=100.0, now=100.3) == 110.0
    late = following("x", 10.0, due=100.0, now=135.0)  # three slots missed: not caught up
    assert 135.0 < late <= 145.0


def test_a_tick_waits_in_its_interval_queue_or_in_hops() -> None:
    steady = wait_for(9.9, 10.0)
    assert steady.per_message
    assert steady.queue_seconds == 10.0
    assert steady.expiration == 9.9
    first = wait_for(7.3, 10.0)  # outside the interval queue's band: hops
    assert not first.per_message
    assert first.queue_seconds == 4.0
    assert hop(0.01) == HOP_BASE
    assert hop(3.99) == 2.0
    assert tolerance(2.0) == 0.1
    assert tolerance(300.0) == 15.0
    assert tolerance(10_000.0) == 15.0
    assert EARLY < HOP_BASE


def test_hops_reach_any_wait_in_a_few_steps() -> None:
    for remaining in (0.3, 5.0, 299.0, 86_000.0):
        left, steps = remaining, 0
        while left > EARLY and steps < 64:
            left -= wait_for(left, 1e9).queue_seconds
            steps += 1
        assert steps <= 20
        assert left > -HOP_BASE  # never overshoots by more than the shortest hop


def test_a_tick_round_trips_and_anything_else_is_refused() -> None:
    tick = Tick("x.bitrix24.ru", 7, 1_700_000_000.25)
    message = tick.message(expiration=1.5)
    assert parse(message.body) == tick
    assert message.expiration == 1.5
    assert tick.sweep_id() == "schedule:7:x.bitrix24.ru"
    assert len(Tick("a" * 250, 7, 0.0).sweep_id()) <= 128
    for body in (
        b"not json",
        b"[]",
        json.dumps({"portal": "x", "generation": 0, "due": 1}).encode(),
        json.dumps({"portal": "x", "generation": True, "due": 1}).encode(),
        json.dumps({"portal": "", "generation": 1, "due": 1}).encode(),
        json.dumps({"portal": "x", "generation": 1, "due": "soon"}).encode(),
        b'{"portal": "x", "generation": 1, "due": NaN}',
    ):
        with pytest.raises(BadTick):
            parse(body)
