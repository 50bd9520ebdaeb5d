"""The issue's fleet scenarios as real processes (slow suite, scaled down to keep the suite
short; benchmarks/fleet_failover.py runs them at full size and prints the figures):

1. three processes, 30 portals, a burst of mixed commands, sandbox latency 50 ms, standard
   buckets: every command an outcome, 0 QUERY_LIMIT_EXCEEDED, every line's final title the
   last update's, each process serving at least 20 % of the portals;
2. kill -9 one of three while commands flow: its portals continue within 30 s, nothing
   lost, no line twice, order kept; duplicate events counted and reported;
3. a fourth process joins while commands flow and holds its fair share within 60 s; then a
   rolling restart of all four, no command waiting more than 60 s;
4. every scenario with OAuth portals: every second portal of the sandbox is an OAuth portal
   whose access tokens live 3 s and whose refresh tokens are single-use (``--auth mixed
   --token-ttl 3``), the members share one PostgreSQL store: 0 ``invalid_grant``, one
   refresh per expiry, also while portals move between processes.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fleet.scenario_runs import Figures, Sizes, burst, join_and_restart, kill_one

PORTALS = 30


def report(name: str, figures: Figures) -> None:
    print(f"\n{name}: {json.dumps(figures.summary(), indent=1)}")


def assert_nothing_lost_and_order_kept(figures: Figures) -> None:
    assert figures.tally is not None
    assert figures.state is not None
    assert figures.missing == [], figures.missing[:5]
    assert figures.several_outcomes == []
    assert figures.state.wrong_titles == [], figures.state.wrong_titles[:5]
    assert figures.state.duplicate_titles == []
    assert figures.state.missing_created == []


def assert_one_refresh_per_expiry(figures: Figures) -> None:
    """Scenario 4: the portal's owner refreshes, the next owner takes the pair from the
    store; a spent refresh token is never presented, no expiry costs two refreshes (a pair
    lost in flight costs its successor exactly one ``invalid_grant``, which tells it so)."""
    oauth = figures.oauth
    assert oauth["invalid_grant"] == len(figures.lost_pairs), (oauth, figures.lost_pairs)
    assert oauth["expiries"] >= PORTALS // 2, oauth  # each OAuth portal's token did expire
    # early: a member found the stored pair within a second of its end and refreshed it
    # (a portal that came back to a member holding an older pair); each stands for an
    # expiry that then never happened. An expiry seen just before a kill or the end of the
    # run may not be refreshed yet.
    unrefreshed = oauth["expiries"] + oauth["early_refreshes"] - oauth["refreshes"]
    assert 0 <= unrefreshed <= 2, oauth


@pytest.mark.slow
@pytest.mark.timeout(420)
async def test_three_processes_serve_a_burst_of_mixed_commands(tmp_path: Path) -> None:
    figures = await burst(tmp_path, Sizes(portals=PORTALS, lines_per_portal=2, rounds=5), 150)
    report("burst", figures)
    assert_nothing_lost_and_order_kept(figures)
    assert_one_refresh_per_expiry(figures)
    assert figures.query_limit == 0
    assert figures.tally is not None
    assert figures.tally.dead_letters == 0
    assert set(figures.portals_served) == {"a", "b", "c"}
    assert min(figures.portals_served.values()) >= PORTALS * 0.2, figures.portals_served
    assert figures.exits == {"a": [0], "b": [0], "c": [0]}


def assert_lost_pairs_handled(figures: Figures) -> None:
    """A kill that landed inside a refresh (the OAuth server rotated the pair, the victim
    never stored it) loses that portal's pair: the store marks exactly that portal as lost
    in flight, by the victim; only its commands were parked, each with the specific reason
    (none else was dead-lettered); installed again and replayed, they were all applied."""
    assert set(figures.lost_pairs.values()) <= {"refresh_lost"}, figures.lost_pairs
    reasons = {reason for _, reason in figures.parked.values()}
    assert reasons <= {"reauthorization_required"}, reasons
    assert {portal for portal, _ in figures.parked.values()} <= set(figures.lost_pairs)
    assert sorted(figures.replayed) == sorted(figures.parked)
    assert set(figures.lost_pairs) <= set(figures.orphaned), figures.lost_pairs  # the victim's


@pytest.mark.slow
@pytest.mark.timeout(420)
async def test_a_killed_process_hands_its_portals_over_within_30_s(tmp_path: Path) -> None:
    """Passes whether or not the kill lands inside a refresh (see the test below)."""
    sizes = Sizes(portals=PORTALS, lines_per_portal=1, rounds=6, round_pause=1.0)
    figures = await kill_one(tmp_path, sizes)
    report("kill -9", figures)
    assert_lost_pairs_handled(figures)
    assert_nothing_lost_and_order_kept(figures)
    assert_one_refresh_per_expiry(figures)
    assert figures.failover_seconds is not None
    assert figures.failover_seconds <= 30
    assert figures.exits["b"] == [-9]
    assert figures.exits["a"] == [0]
    assert figures.exits["c"] == [0]


@pytest.mark.slow
@pytest.mark.timeout(420)
async def test_a_process_killed_inside_a_refresh_loses_that_pair_and_says_so(
    tmp_path: Path,
) -> None:
    """The same kill, made to land inside a refresh: the sandbox's token endpoint rotates one
    of the victim's OAuth portals' pair and holds the answer; kill -9 meanwhile. Its
    successor knows the pair was lost in flight (not revoked), marks the portal, parks its
    commands as ``reauthorization_required`` without a refresh each; the portal is installed
    again and the parked commands replayed: nothing lost, order kept."""
    sizes = Sizes(portals=PORTALS, lines_per_portal=1, rounds=6, round_pause=1.0)
    figures = await kill_one(tmp_path, sizes, inside_a_refresh=True)
    report("kill -9 inside a refresh", figures)
    # the stalled portal's pair, and any other the victim was refreshing at that moment
    assert figures.stalled in figures.lost_pairs, (figures.stalled, figures.lost_pairs)
    assert figures.replayed, "the lost portal's commands were parked and replayed"
    assert_lost_pairs_handled(figures)
    assert_nothing_lost_and_order_kept(figures)
    assert_one_refresh_per_expiry(figures)
    assert figures.failover_seconds is not None
    assert figures.failover_seconds <= 30


@pytest.mark.slow
@pytest.mark.timeout(540)
async def test_a_joiner_gets_its_share_and_a_rolling_restart_keeps_waits_short(
    tmp_path: Path,
) -> None:
    # paced below the standard buckets (2 requests/s per portal), so waits measure the fleet
    sizes = Sizes(portals=PORTALS, lines_per_portal=1, rounds=3, round_pause=4.0)
    figures = await join_and_restart(tmp_path, sizes)
    report("join, then rolling restart", figures)
    assert_nothing_lost_and_order_kept(figures)
    assert_one_refresh_per_expiry(figures)
    assert figures.fair_share_seconds is not None
    assert figures.fair_share_seconds <= 60
    assert figures.longest_wait_restart is not None
    assert figures.longest_wait_restart <= 60
    assert "d" in figures.portals_served
    assert all(codes == [0, 0] for codes in figures.exits.values()), figures.exits
