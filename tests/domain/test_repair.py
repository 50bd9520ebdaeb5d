"""The repair policy's pure rules: which verdicts, the sliding-hour budget, what is sent,
which registrations are orphans."""

from __future__ import annotations

import pytest

from contracts import Verdict
from tests.domain.builders import line, vox
from worker.domain.repair import (
    MAX_ORPHANS_LISTED,
    PortalPolicy,
    exhausted_finding,
    orphans,
    reapply,
    spend,
)

NOW = 1_800_000_000.0


@pytest.mark.parametrize("verdict", list(Verdict))
def test_only_drift_and_a_missing_registration_are_repaired(verdict: Verdict) -> None:
    wanted = verdict in (Verdict.CONFIG_DRIFT, Verdict.MISSING_REGISTRATION)
    assert PortalPolicy(mode="repair").wants_repair(verdict) is wanted
    assert PortalPolicy(mode="observe").wants_repair(verdict) is False


def test_the_budget_slides_with_the_hour() -> None:
    history: tuple[float, ...] = ()
    answers = []
    for at in (NOW, NOW + 600, NOW + 1200, NOW + 1800):
        spent, history = spend(history, now=at, budget=3)
        answers.append((spent.granted, spent.used))
    assert answers == [(True, 1), (True, 2), (True, 3), (False, 3)]
    refused, _ = spend(history, now=NOW + 1800, budget=3)
    assert refused.free_at == NOW + 3600  # when the first repair leaves the window
    spent, history = spend(history, now=NOW + 3600, budget=3)
    assert (spent.granted, spent.used, history) == (True, 3, (NOW + 600, NOW + 1200, NOW + 3600))
    assert "until 2027-01-15 09:00:00 UTC" in exhausted_finding(refused)


def test_a_smaller_budget_frees_when_enough_repairs_have_aged() -> None:
    history = (NOW, NOW + 100, NOW + 200)
    refused, kept = spend(history, now=NOW + 300, budget=2)  # the budget was lowered
    assert (refused.granted, refused.used, refused.free_at) == (False, 3, NOW + 100 + 3600)
    assert kept == history


def test_a_repair_in_the_future_counts_as_now() -> None:
    spent, kept = spend((NOW + 999_999,), now=NOW, budget=1)
    assert (spent.granted, kept) == (False, (NOW,))


def test_a_negative_budget_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        PortalPolicy(budget=-1)


def test_a_repair_sends_bitrix24_s_own_server_and_login_only() -> None:
    values = reapply(line(server="sip.example.net", login="100200"))
    assert values is not None
    assert (values.server, values.login, values.fields) == (
        "sip.example.net",
        "100200",
        ["server", "login"],
    )
    assert reapply(line(server=None)) is None
    assert reapply(line(login="")) is None


def test_orphans_are_the_registrations_no_line_references() -> None:
    registrations = {i: vox(sip_registration_id=i) for i in range(1, 206)}
    lines = [line(config_id=1, reg_id=3), line(config_id=2, reg_id=None, line_type="office")]
    report = orphans(registrations, lines)
    assert report.count == 204
    assert len(report.listed) == MAX_ORPHANS_LISTED
    assert [r.sip_registration_id for r in report.listed[:3]] == [1, 2, 4]
