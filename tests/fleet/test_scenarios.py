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
    store; a spent refresh token is never presented, no expiry costs two refreshes."""
    oauth = figures.oauth
    assert oauth["invalid_grant"] == 0, oauth
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


@pytest.mark.slow
@pytest.mark.timeout(420)
async def test_a_killed_process_hands_its_portals_over_within_30_s(tmp_path: Path) -> None:
    sizes = Sizes(portals=PORTALS, lines_per_portal=1, rounds=6, round_pause=1.0)
    figures = await kill_one(tmp_path, sizes)
    report("kill -9", figures)
    assert_nothing_lost_and_order_kept(figures)
    assert_one_refresh_per_expiry(figures)
    assert figures.failover_seconds is not None
    assert figures.failover_seconds <= 30
    assert figures.exits["b"] == [-9]
    assert figures.exits["a"] == [0]
    assert figures.exits["c"] == [0]


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
