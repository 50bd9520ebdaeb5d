"""Forged x-sipline-* headers against the real broker: clamped on the way in, never a loop,
never a way around the retry budget."""

from __future__ import annotations

import json
import time

import pytest

from tests.amqp_helpers import command, wait_for
from tests.runtime.conftest import RunWorker
from tests.runtime.fakes import Registrations, ScriptedHandler, SettlingLines, reconcile_handler
from worker.runtime import headers

DEEP_HISTORY = "[" * 20_000 + "]" * 20_000


def reconcile(config_id: int, **kw: object) -> dict[str, object]:
    return command("line.reconcile", {"config_id": config_id}, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "claim",
    [
        pytest.param("99999999999999999999", id="huge-text"),
        pytest.param(2**62, id="huge-int"),
        pytest.param(4, id="above-the-budget"),
    ],
)
async def test_an_attempt_claimed_past_the_budget_is_the_last_attempt(
    run_worker: RunWorker, claim: object
) -> None:
    handler = ScriptedHandler(always_transient={5})
    async with run_worker({"line.reconcile": handler}, max_attempts=3) as (_, b):
        await b.publish(reconcile(5, id_="forged-attempt"), headers={headers.ATTEMPT: claim})

        await wait_for(lambda: len(b.dead.messages) == 1, what="the dead letter")
        await wait_for(lambda: len(b.events.of_type("command.failed")) == 1, what="failed")

        assert handler.calls[5] == 1, "one try, no requeue loop"
        dead = b.dead.messages[0]
        assert dead.headers[headers.REASON] == "retries_exhausted"
        assert dead.headers[headers.ATTEMPT] == 3
        assert b.events.of_type("command.failed")[0]["data"]["attempts"] == 3
        assert await b.queue_depth(b.spec.names.commands_queue) == 0


@pytest.mark.parametrize(
    "claim",
    [
        pytest.param(-5, id="negative"),
        pytest.param("two", id="text"),
        pytest.param([1, 2], id="a-list"),
        pytest.param(1.5, id="a-fraction"),
    ],
)
async def test_a_garbled_attempt_counts_as_the_first(run_worker: RunWorker, claim: object) -> None:
    handler = ScriptedHandler(transient_first={6: 2})
    async with run_worker({"line.reconcile": handler}, max_attempts=3) as (_, b):
        await b.publish(reconcile(6), headers={headers.ATTEMPT: claim})

        await wait_for(lambda: len(b.events.of_type("line.reconciled")) == 1, what="success")

        assert handler.attempts_seen == [1, 2, 3]
        assert b.dead.messages == []


async def test_a_deep_failure_history_is_dropped_not_looped_on(run_worker: RunWorker) -> None:
    handler = ScriptedHandler(always_transient={7})
    async with run_worker({"line.reconcile": handler}, max_attempts=2) as (_, b):
        await b.publish(reconcile(7), headers={headers.FAILURES: DEEP_HISTORY})

        await wait_for(lambda: len(b.dead.messages) == 1, what="the dead letter")

        assert handler.calls[7] == 2
        history = json.loads(b.dead.messages[0].headers[headers.FAILURES])
        assert [entry["attempt"] for entry in history] == [1, 2]


async def test_a_forged_settle_attempt_is_clamped_and_the_recheck_goes_on(
    run_worker: RunWorker,
) -> None:
    lines, registrations = SettlingLines(pending_checks=2), Registrations()
    forged = {headers.SETTLE_STARTED: repr(time.time()), headers.SETTLE_ATTEMPT: "1e19"}
    async with run_worker({"line.reconcile": reconcile_handler(lines, registrations)}) as (_, b):
        await b.publish(reconcile(11), headers=forged)

        await wait_for(lambda: len(b.events.of_type("line.reconciled")) == 1, what="verdict")

        # two pending checks (each re-queued as a re-check), then the verdict: no redelivery
        assert lines.status_calls == 3
        data = b.events.of_type("line.reconciled")[0]["data"]
        assert data["verdict"] == "in_sync"
        assert data["attempts"] == headers.SETTLE_ATTEMPT_LIMIT + 1
        assert b.dead.messages == []
