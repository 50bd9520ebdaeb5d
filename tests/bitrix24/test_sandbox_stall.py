"""The sandbox portal's ``stall`` fault: a share of requests held, then served as usual."""

from __future__ import annotations

import time

import aiohttp
import pytest

from tests.bitrix24.conftest import GOOD
from worker.sandbox.portal import SandboxPortal
from worker.sandbox.portal.options import Faults

CREDS = {k.upper(): v for k, v in GOOD.items()}


def test_stall_seconds_is_a_duration_and_stall_a_share() -> None:
    faults = Faults()
    faults.update({"stall": 0.5, "stall_seconds": 3})
    assert (faults.stall, faults.stall_seconds) == (0.5, 3.0)
    with pytest.raises(ValueError, match="out of range"):
        faults.update({"stall": 2})


async def test_a_stalled_add_times_out_yet_makes_the_line(
    session: aiohttp.ClientSession, portal: SandboxPortal
) -> None:
    portal.set_faults(stall=1.0, stall_seconds=0.4)
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        async with session.post(
            portal.webhook_url + "voximplant.sip.add",
            json={**CREDS, "TITLE": "stalled"},
            timeout=aiohttp.ClientTimeout(total=0.1),
        ):
            pass
    assert time.monotonic() - started < 0.4, "the caller gave up before the answer"
    assert [line.title for line in portal.lines.lines.values()] == ["stalled"]
    assert portal.counters.injected["stall"] == 1
