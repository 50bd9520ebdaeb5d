"""Scenario 3: both upstreams fail a fifth of their requests, every way they can.

Portal: 5 % HTTP 500, 5 % HTML bodies, 5 % dropped connections, 5 % QUERY_LIMIT_EXCEEDED,
3 % answers held past the client's timeout (after the work is done), 10 ms latency.
Account: 5 % HTTP 500, 5 % HTML, 5 % drops, 5 % code 340, 3 % held past the timeout.

Attempts: a ``line.create`` pass makes up to 6 requests; at about 23 % failures per request a
pass succeeds with p ≥ 0.77⁶ ≈ 0.2, so P(50 attempts all fail) ≈ 0.8⁵⁰ ≈ 1.4e-5 per command:
``max_attempts=50`` makes exhaustion negligible (any that happens is counted apart).
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import pytest

from tests.resilience.commands import mix, quiet
from tests.resilience.conftest import Run
from tests.resilience.processes import until

PORTAL_FAULTS = {
    "error_500": 0.05,
    "html": 0.05,
    "drop": 0.05,
    "query_limit": 0.05,
    "stall": 0.03,
    "stall_seconds": 1.5,
    "latency": 0.01,
}
ACCOUNT_FAULTS = {
    "shares": {"status": 0.05, "html": 0.05, "drop": 0.05, "api_error": 0.05},
    "stall": 0.03,
    "stall_seconds": 1.5,
}
TIMEOUTS = {"bitrix24_total_timeout": 0.8, "voximplant_total_timeout": 0.8}


async def _under_faults(
    make_run: Any, figures: dict[str, Any], *, total: int, creates: int, deletes: int
) -> None:
    async with make_run("faults", lines=20 + deletes, max_attempts=50, **TIMEOUTS) as run:
        run: Run  # type: ignore[no-redef]
        await run.sandbox.portal_faults(run.session, **PORTAL_FAULTS)
        await run.sandbox.account_faults(run.session, **ACCOUNT_FAULTS)
        commands = mix(
            run.sandbox.config_ids, total=total, creates=creates, deletes=deletes, tag="f"
        )
        ids = [c["id"] for c in commands]
        run.worker.start()
        await run.worker.ready(run.session)
        started = time.monotonic()
        await run.tap.publish_many(commands)
        ledger = run.tap.ledger
        await until(lambda: ledger.completed(ids) >= total, limit=400, what="every outcome")
        elapsed = time.monotonic() - started
        await quiet(run.tap, limit=60)
        retries = await run.worker.metric(run.session, "sipline_retries_total")
        counters = await run.sandbox.counters(run.session)
        await run.sandbox.clear_faults(run.session)
        tally = ledger.tally(ids)
        titles = Counter(line["TITLE"] for line in await run.sandbox.lines(run.session))
        made = {c["data"]["title"] for c in commands if c["type"] == "line.create"}
        exhausted = [
            d for d in ledger.dead if d.headers.get("x-sipline-reason") == "retries_exhausted"
        ]
        failed = [e for e in ledger.events if e["type"] == "command.failed"]
        already = sum(
            1 for e in ledger.events if e["type"] == "line.created" and e["data"]["already_existed"]
        )
        scanned = run.scan()
        figures.update(
            {
                **tally.figures(),
                "retries (sipline_retries_total)": int(retries),
                "portal requests": counters["portal"]["requests"],
                "portal faults injected": counters["portal"]["injected"],
                "account requests": counters["account"]["requests"],
                "account faults served": counters["account"]["faults_served"],
                "dead-lettered by exhaustion": len(exhausted),
                "command.failed": len(failed),
                "creates that found their line made by a timed-out attempt": already,
                "lines per created title (max)": max(titles[t] for t in made) if made else 0,
                "worker starts": run.worker.starts,
                "seconds": round(elapsed, 1),
                **scanned.figures(),
            }
        )
        assert run.worker.running()
        assert tally.missing == [], ledger.explain(tally.missing)
        assert tally.several_outcomes == [], ledger.explain(tally.several_outcomes)
        assert exhausted == [], "retries ran out; see the figures"
        assert failed == [], ledger.explain([e["causationid"] for e in failed])
        assert all(titles[t] == 1 for t in made), "a line was created twice (or never)"
        assert retries > 0, "no fault was met; nothing was tested"
        assert scanned.leaks == []


async def test_a_fifth_of_requests_fail_short(make_run: Any, figures: dict[str, Any]) -> None:
    await _under_faults(make_run, figures, total=60, creates=12, deletes=4)


@pytest.mark.slow
@pytest.mark.timeout(420)
async def test_a_fifth_of_requests_fail(make_run: Any, figures: dict[str, Any]) -> None:
    await _under_faults(make_run, figures, total=400, creates=80, deletes=20)
