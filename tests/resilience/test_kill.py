"""Scenario 1: ``kill -9`` of the worker in the middle of a burst, then a restart.

Every command ends in exactly one terminal outcome (copies of an event after redelivery
carry the same id and are counted, not hidden), and no line is created twice.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import pytest

from tests.resilience.commands import mix, quiet
from tests.resilience.conftest import Run
from tests.resilience.processes import until


async def _kill_and_restart(
    make_run: Any, figures: dict[str, Any], *, total: int, creates: int, deletes: int, lines: int
) -> None:
    async with make_run("kill", lines=lines + deletes) as run:
        run: Run  # type: ignore[no-redef]
        commands = mix(
            run.sandbox.config_ids, total=total, creates=creates, deletes=deletes, tag="k"
        )
        ids = [c["id"] for c in commands]
        await run.tap.publish_many(commands)
        started = time.monotonic()
        run.worker.start()
        ledger = run.tap.ledger
        await until(
            lambda: ledger.completed(ids) >= total * 0.4,
            limit=240,
            what="40 % of the outcomes",
        )
        done_at_kill = ledger.completed(ids)
        run.worker.kill()  # SIGKILL: no drain, no goodbye to the broker
        assert run.worker.exits == [-9]
        run.worker.start()
        await until(
            lambda: ledger.completed(ids) >= total, limit=300, what="every command's outcome"
        )
        elapsed = time.monotonic() - started
        await quiet(run.tap)
        tally = ledger.tally(ids)

        titles = Counter(line["TITLE"] for line in await run.sandbox.lines(run.session))
        made = {c["data"]["title"] for c in commands if c["type"] == "line.create"}
        doomed = {c["data"]["config_id"] for c in commands if c["type"] == "line.delete"}
        remaining = {int(line["CONFIG_ID"]) for line in await run.sandbox.lines(run.session)}
        scanned = run.scan()
        figures.update(
            {
                **tally.figures(),
                "outcomes before the kill": done_at_kill,
                "worker starts": run.worker.starts,
                "seconds": round(elapsed, 1),
                "lines per created title (max)": max(titles[t] for t in made) if made else 0,
                **scanned.figures(),
            }
        )
        assert tally.missing == [], f"{len(tally.missing)} commands have no outcome"
        assert tally.several_outcomes == [], ledger.explain(tally.several_outcomes)
        assert done_at_kill < total, "the burst finished before the kill; nothing was tested"
        assert all(titles[t] == 1 for t in made), "a line was created twice (or never)"
        assert not doomed & remaining, "a deleted line is still there"
        assert tally.dead_letters == 0
        assert scanned.leaks == []


async def test_kill_9_midway_loses_nothing_short(make_run: Any, figures: dict[str, Any]) -> None:
    await _kill_and_restart(make_run, figures, total=300, creates=40, deletes=20, lines=20)


@pytest.mark.slow
@pytest.mark.timeout(420)
async def test_kill_9_midway_loses_nothing_5000(make_run: Any, figures: dict[str, Any]) -> None:
    await _kill_and_restart(make_run, figures, total=5000, creates=300, deletes=100, lines=100)
