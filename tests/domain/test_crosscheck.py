"""The cross-check rules, one row per case: inputs, expected verdict, a finding to expect."""

from __future__ import annotations

from dataclasses import dataclass, fields

import pytest

from contracts.events import Verdict
from tests.domain.builders import FAILING_B24, FAILING_VOX, REG_ID, b24, line, vox
from worker.domain.crosscheck import Check, cross_check, timed_out
from worker.domain.model import Bitrix24Status, Line, VoximplantRegistration


@dataclass(frozen=True)
class Case:
    line: Line
    b24: Bitrix24Status | None
    vox: VoximplantRegistration | None
    verdict: Verdict | None
    finding: str  # a fragment one of the findings must contain


CASES = [
    # --- every verdict ---------------------------------------------------------------
    pytest.param(
        Case(line(), b24(), vox(), Verdict.IN_SYNC, "registration works on both sides"),
        id="in_sync",
    ),
    pytest.param(
        Case(
            line(),
            b24(**FAILING_B24),
            vox(**FAILING_VOX),
            Verdict.REGISTRATION_FAILED,
            "fails on both sides",
        ),
        id="registration_failed",
    ),
    pytest.param(
        Case(line(), b24(), vox(**FAILING_VOX), Verdict.STATUS_MISMATCH, "the sides disagree"),
        id="status_mismatch-b24-success-vox-fails",
    ),
    pytest.param(
        Case(line(), b24(**FAILING_B24), vox(), Verdict.STATUS_MISMATCH, "the sides disagree"),
        id="status_mismatch-b24-error-vox-works",
    ),
    pytest.param(
        Case(
            line(),
            b24(),
            vox(proxy="sip.other.net"),
            Verdict.CONFIG_DRIFT,
            "SERVER differs: Bitrix24 has 'sip.example.net', Voximplant has proxy 'sip.other.net'",
        ),
        id="config_drift-server",
    ),
    pytest.param(
        Case(
            line(),
            b24(),
            vox(sip_username="999"),
            Verdict.CONFIG_DRIFT,
            "LOGIN differs: Bitrix24 has '100200', Voximplant has sip_username '999'",
        ),
        id="config_drift-login",
    ),
    pytest.param(
        Case(line(), b24(), None, Verdict.MISSING_REGISTRATION, f"no registration {REG_ID}"),
        id="missing_registration",
    ),
    pytest.param(
        Case(line(), b24(), vox(deactivated=True), Verdict.DEACTIVATED, "deactivated"),
        id="deactivated",
    ),
    pytest.param(
        Case(line(), b24(status_result="wait"), vox(), None, "Bitrix24 STATUS_RESULT is 'wait'"),
        id="pending-b24-wait",
    ),
    pytest.param(
        Case(line(), b24(status_result="in_progress"), vox(), None, "'in_progress'"),
        id="pending-b24-in_progress",
    ),
    pytest.param(
        Case(line(), b24(), vox(in_progress=True), None, "still in progress"),
        id="pending-vox-in_progress",
    ),
    # --- precedence ------------------------------------------------------------------
    pytest.param(
        Case(
            line(), b24(), vox(deactivated=True, proxy="elsewhere"), Verdict.DEACTIVATED, "frozen"
        ),
        id="deactivated-beats-drift",
    ),
    pytest.param(
        Case(
            line(),
            b24(status_result="wait"),
            vox(deactivated=True),
            Verdict.DEACTIVATED,
            "deactivated",
        ),
        id="deactivated-beats-pending",
    ),
    pytest.param(
        Case(line(), b24(status_result="wait"), vox(proxy="elsewhere"), None, "'wait'"),
        id="pending-beats-drift",
    ),
    pytest.param(
        Case(line(), b24(), vox(in_progress=True, sip_username="x"), None, "in progress"),
        id="vox-pending-beats-drift",
    ),
    pytest.param(
        Case(line(), None, None, Verdict.MISSING_REGISTRATION, "no registration"),
        id="missing-beats-missing-b24-status",
    ),
    pytest.param(
        Case(
            line(),
            b24(status_result="wait"),
            None,
            Verdict.MISSING_REGISTRATION,
            "no registration",
        ),
        id="missing-beats-pending",
    ),
    pytest.param(
        Case(line(line_type="office"), None, None, Verdict.IN_SYNC, "office line"),
        id="office-beats-missing",
    ),
    pytest.param(
        Case(line(), b24(), vox(proxy="elsewhere", **FAILING_VOX), Verdict.CONFIG_DRIFT, "SERVER"),
        id="drift-beats-status",
    ),
    # --- edge cases ------------------------------------------------------------------
    pytest.param(
        Case(line(line_type="office", reg_id=None), None, None, Verdict.IN_SYNC, "office line"),
        id="office-line-without-reg-id",
    ),
    pytest.param(
        Case(line(line_type="office"), b24(**FAILING_B24), vox(**FAILING_VOX), Verdict.IN_SYNC, ""),
        id="office-line-ignores-both-sides",
    ),
    pytest.param(
        Case(line(reg_id=None), None, None, Verdict.IN_SYNC, "no REG_ID"),
        id="cloud-line-without-reg-id",
    ),
    pytest.param(
        Case(
            line(),
            b24(status_result="queued"),
            vox(),
            Verdict.STATUS_MISMATCH,
            "STATUS_RESULT 'queued' is not one of error, in_progress, success, wait",
        ),
        id="unknown-status-result",
    ),
    pytest.param(
        Case(line(), b24(status_result=""), vox(), Verdict.STATUS_MISMATCH, "is not one of"),
        id="empty-status-result",
    ),
    pytest.param(
        Case(line(), b24(status_result=" SUCCESS "), vox(), Verdict.IN_SYNC, "'success'"),
        id="status-result-case-and-space",
    ),
    pytest.param(
        Case(line(), b24(status_result=" Wait"), vox(), None, "'wait'"),
        id="pending-status-result-case",
    ),
    pytest.param(
        Case(line(), None, vox(), Verdict.STATUS_MISMATCH, "REG_ID_NOT_FOUND"),
        id="b24-status-missing",
    ),
    pytest.param(
        Case(
            line(),
            b24(status_result=None),
            vox(),
            Verdict.STATUS_MISMATCH,
            "no STATUS_RESULT",
        ),
        id="b24-status-result-missing",
    ),
    pytest.param(
        Case(
            line(),
            b24(),
            vox(successful=None),
            Verdict.STATUS_MISMATCH,
            "did not report whether it succeeded",
        ),
        id="vox-successful-missing",
    ),
    pytest.param(
        Case(
            line(),
            Bitrix24Status(),
            VoximplantRegistration(sip_registration_id=REG_ID),
            Verdict.STATUS_MISMATCH,
            "Voximplant reported no proxy; SERVER not compared",
        ),
        id="none-everywhere",
    ),
    pytest.param(
        Case(
            line(server=None, login=None),
            b24(),
            vox(),
            Verdict.IN_SYNC,
            "the Bitrix24 line has no SERVER; not compared",
        ),
        id="line-server-login-missing",
    ),
    pytest.param(
        Case(
            line(),
            b24(),
            vox(proxy=None),
            Verdict.IN_SYNC,
            "Voximplant reported no proxy; SERVER not compared",
        ),
        id="vox-proxy-absent-not-drift",
    ),
    pytest.param(
        Case(line(), b24(), vox(sip_username="  "), Verdict.IN_SYNC, "no sip_username"),
        id="vox-username-blank-not-drift",
    ),
    pytest.param(
        Case(line(), b24(), vox(proxy="SIP:Sip.Example.NET:5060"), Verdict.IN_SYNC, "works"),
        id="proxy-scheme-case-port-not-drift",
    ),
    pytest.param(
        Case(line(server="https://sip.example.net/"), b24(), vox(), Verdict.IN_SYNC, "works"),
        id="server-http-scheme-not-drift",
    ),
    pytest.param(
        Case(line(), b24(), vox(proxy=" sip.example.net;transport=udp "), Verdict.IN_SYNC, ""),
        id="proxy-uri-params-and-space-not-drift",
    ),
    pytest.param(
        Case(line(), b24(), vox(proxy="sip.example.net:5080"), Verdict.CONFIG_DRIFT, "5080"),
        id="proxy-other-port-is-drift",
    ),
    pytest.param(
        Case(line(), b24(), vox(sip_username=" 100200\t"), Verdict.IN_SYNC, "works"),
        id="login-whitespace-not-drift",
    ),
    pytest.param(
        Case(line(login="Alice"), b24(), vox(sip_username="alice"), Verdict.CONFIG_DRIFT, "LOGIN"),
        id="login-case-is-drift",
    ),
    pytest.param(
        Case(
            line(),
            b24(**FAILING_B24),
            vox(successful=False, status_code=401, error_message="Unauthorized"),
            Verdict.REGISTRATION_FAILED,
            "SIP status codes differ: Bitrix24 403, Voximplant 401",
        ),
        id="failed-with-differing-codes",
    ),
    pytest.param(
        Case(
            line(),
            b24(status_result="error", status_code=None, error_message=None),
            vox(successful=False, status_code=None),
            Verdict.REGISTRATION_FAILED,
            "fails on both sides",
        ),
        id="failed-without-codes",
    ),
    pytest.param(
        Case(line(), b24(), vox(deactivated=None), Verdict.IN_SYNC, "works"),
        id="deactivated-missing-means-active",
    ),
]


@pytest.mark.parametrize("case", CASES)
def test_cross_check(case: Case) -> None:
    check = cross_check(case.line, case.b24, case.vox)

    assert check.verdict == case.verdict
    assert check.settled is (case.verdict is not None)
    assert check.findings, "every outcome explains itself"
    assert any(case.finding in finding for finding in check.findings), check.findings


def test_failed_findings_carry_both_codes_and_messages() -> None:
    check = cross_check(
        line(),
        b24(status_result="error", status_code=403, error_message="Forbidden"),
        vox(successful=False, status_code=401, error_message="Unauthorized"),
    )

    text = " ".join(check.findings)
    assert check.verdict is Verdict.REGISTRATION_FAILED
    for fragment in ("SIP 403", "'Forbidden'", "SIP 401", "'Unauthorized'"):
        assert fragment in text


@pytest.mark.parametrize(
    ("b24_status", "vox_reg", "sides"),
    [
        pytest.param(b24(status_result="wait"), vox(), ("bitrix24",), id="bitrix24"),
        pytest.param(b24(), vox(in_progress=True), ("voximplant",), id="voximplant"),
        pytest.param(
            b24(status_result="in_progress"),
            vox(in_progress=True),
            ("bitrix24", "voximplant"),
            id="both",
        ),
        pytest.param(None, vox(in_progress=True), ("voximplant",), id="voximplant-no-b24"),
    ],
)
def test_pending_names_the_pending_sides(
    b24_status: Bitrix24Status | None, vox_reg: VoximplantRegistration, sides: tuple[str, ...]
) -> None:
    check = cross_check(line(), b24_status, vox_reg)

    assert check.verdict is None
    assert not check.settled
    assert check.pending_sides == sides


@pytest.mark.parametrize(
    ("pending", "expected"),
    [
        pytest.param(
            cross_check(line(), b24(status_result="wait"), vox()),
            "still pending: Bitrix24",
            id="bitrix24",
        ),
        pytest.param(
            cross_check(line(), b24(status_result="wait"), vox(in_progress=True)),
            "still pending: Bitrix24, Voximplant",
            id="both",
        ),
        pytest.param(Check(verdict=None), "still pending: unknown", id="no-sides-recorded"),
    ],
)
def test_timed_out(pending: Check, expected: str) -> None:
    result = timed_out(pending)

    assert result.verdict is Verdict.PENDING_TIMEOUT
    assert result.settled
    assert expected in result.findings[0]
    assert result.findings[1:] == pending.findings


def test_timed_out_keeps_a_settled_verdict() -> None:
    settled = cross_check(line(), b24(), vox())

    assert timed_out(settled) is settled


@pytest.mark.parametrize("model", [Line, Bitrix24Status, VoximplantRegistration])
def test_the_domain_never_holds_a_password(model: type) -> None:
    assert not [f.name for f in fields(model) if "password" in f.name.lower()]


def test_long_upstream_values_are_cut() -> None:
    check = cross_check(line(), b24(status_result="x" * 10_000), vox())

    assert all(len(finding) < 500 for finding in check.findings)
