"""Properties over arbitrary inputs: the cross-check and the schedule never misbehave."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from contracts.events import Verdict
from worker.domain.crosscheck import cross_check, timed_out
from worker.domain.mapping import to_event_sides
from worker.domain.model import Bitrix24Status, Line, VoximplantRegistration
from worker.domain.settle import SettlePlan

texts = (
    st.none()
    | st.text(max_size=40)
    | st.sampled_from(["success", "error", "wait", "in_progress", " Success", "sip:Host:5060", ""])
)
codes = st.none() | st.integers(min_value=-(2**40), max_value=2**40)
flags = st.none() | st.booleans()
numbers = st.none() | st.integers() | st.floats(allow_nan=True, allow_infinity=True)

lines = st.builds(
    Line,
    config_id=st.integers(),
    line_type=st.sampled_from(["cloud", "office"]),
    title=texts,
    server=texts,
    login=texts,
    reg_id=st.none() | st.integers(),
)
statuses = st.none() | st.builds(
    Bitrix24Status,
    status_result=texts,
    status_code=codes,
    error_message=texts,
    last_updated=texts,
)
registrations = st.none() | st.builds(
    VoximplantRegistration,
    sip_registration_id=st.integers(),
    successful=flags,
    status_code=codes,
    error_message=texts,
    deactivated=flags,
    proxy=texts,
    sip_username=texts,
    last_updated=numbers,
    in_progress=st.booleans(),
)


@given(lines, statuses, registrations)
def test_cross_check_always_decides_or_waits(
    line: Line, b24: Bitrix24Status | None, vox: VoximplantRegistration | None
) -> None:
    check = cross_check(line, b24, vox)

    assert check.findings
    assert all(isinstance(finding, str) and finding for finding in check.findings)
    if check.settled:
        assert check.verdict in set(Verdict) - {Verdict.PENDING_TIMEOUT}
    else:
        assert check.verdict is None
        assert check.pending_sides
        assert timed_out(check).verdict is Verdict.PENDING_TIMEOUT
    to_event_sides(b24, vox)  # every report fits the event's models


@given(
    intervals=st.lists(
        st.floats(min_value=0.001, max_value=1e6, allow_nan=False), min_size=1, max_size=8
    ),
    deadline=st.floats(min_value=0.001, max_value=1e6, allow_nan=False),
    attempt=st.integers(min_value=-5, max_value=10_000),
    elapsed=st.floats(allow_nan=True, allow_infinity=True),
)
def test_next_delay_never_overshoots(
    intervals: list[float], deadline: float, attempt: int, elapsed: float
) -> None:
    plan = SettlePlan(intervals=tuple(intervals), deadline=deadline)

    delay = plan.next_delay(attempt, elapsed)

    if delay is not None:
        assert 0 < delay <= max(intervals)
        assert max(elapsed, 0.0) + delay <= deadline * (1 + 1e-9)
