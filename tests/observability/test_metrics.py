"""Metrics end to end: real broker, sandbox and worker; the figures read over HTTP."""

from __future__ import annotations

import json

from tests.amqp_helpers import wait_for
from tests.observability.conftest import Observed


async def test_metrics_count_what_the_worker_did(observed: Observed) -> None:
    stack = observed.stack
    # 1. a create that settles in_sync
    created = await stack.create("metered")
    reconciled = await stack.outcome(created["command_id"], "line.reconciled")
    assert reconciled[0]["data"]["verdict"] == "in_sync"

    # 2. a body that is not JSON: rejected and dead-lettered
    await stack.broker.publish_raw(b"{not json", routing_key="line.create")
    await wait_for(lambda: len(stack.broker.dead.messages) == 1, what="the dead letter")

    # 3. a reconcile that meets a 500 once, is retried through a delay tier, then succeeds
    portal = stack.sandbox.portal()
    portal.set_faults(error_500=1.0)
    retried = await stack.send("line.reconcile", {"config_id": created["config_id"]})
    await wait_for(
        lambda: observed.value("sipline_retries_total", type="line.reconcile") >= 1,
        what="a retry",
    )
    portal.set_faults(error_500=0.0)
    again = await stack.outcome(retried, "line.reconciled")
    assert again[0]["data"]["verdict"] == "in_sync"

    m = await observed.scrape()
    commands = "sipline_commands_total"
    assert m.value(commands, type="line.create", outcome="ok") == 1
    assert m.value(commands, type="line.create", outcome="rejected") == 1
    assert m.value(commands, type="line.reconcile", outcome="retried") >= 1
    assert m.value(commands, type="line.reconcile", outcome="ok") >= 2  # settle + the retry
    assert m.value("sipline_retries_total", type="line.reconcile") >= 1
    assert m.value("sipline_verdicts_total", verdict="in_sync") == 2
    assert m.value("sipline_events_published_total", type="line.created") == 1
    assert m.value("sipline_events_published_total", type="command.rejected") == 1
    assert m.value("sipline_dead_letters_total", reason="not_json") == 1
    assert m.value("sipline_command_duration_seconds_count", type="line.create") == 2

    upstream = "sipline_upstream_requests_total"
    assert m.value(upstream, upstream="bitrix24", status="200", code="OK") >= 3
    assert m.value(upstream, upstream="bitrix24", status="500", code="INTERNAL_SERVER_ERROR") >= 1
    assert m.value(upstream, upstream="voximplant", status="200", code="OK") >= 1
    methods = {
        s.labels["method"]
        for s in m.samples
        if s.name == upstream and s.labels["upstream"] == "bitrix24"
    }
    assert {"voximplant.sip.add", "voximplant.sip.get"} <= methods
    assert all(name.startswith(("voximplant.", "batch")) for name in methods), methods
    assert m.value("sipline_upstream_request_duration_seconds_count", upstream="voximplant") >= 1

    # the worker's bucket (2 calls per 0.1 s after headroom) made some calls wait
    assert "sipline_rate_limiter_wait_seconds" in m.families
    waits = m.value("sipline_rate_limiter_wait_seconds_count", upstream="bitrix24")
    assert waits >= 1
    assert m.value("sipline_rate_limiter_wait_seconds_sum") > 0

    assert "sipline_in_flight" in m.families
    assert m.value("sipline_in_flight") >= 0
    assert m.value("sipline_consuming") == 1

    # bounded labels: never a command id, a config id or a title
    labels = m.label_values()
    ids = {created["command_id"], retried, str(created["config_id"]), "metered"}
    assert not labels & ids, labels & ids


async def test_health_and_readiness_follow_the_consumer(observed: Observed) -> None:
    status, body = await observed.get("/healthz")
    assert status == 200
    health = json.loads(body)
    assert (health["status"], health["phase"]) == ("alive", "consuming")
    assert health["loop_lag_seconds"] < 1.0
    status, body = await observed.get("/readyz")
    assert status == 200
    assert json.loads(body)["status"] == "ready"

    await observed.stop_worker()

    status, _ = await observed.get("/readyz")
    assert status == 503
    status, body = await observed.get("/healthz")
    assert status == 200, "a worker that just stopped is not stuck (yet)"
    assert json.loads(body)["phase"] == "stopped"
    assert (await observed.scrape()).value("sipline_consuming") == 0


async def test_a_routing_key_no_command_has_counts_as_other(observed: Observed) -> None:
    stack = observed.stack
    for n in range(3):
        await stack.broker.publish_raw(b"{}", routing_key=f"made.up.{n}")
    await wait_for(lambda: len(stack.broker.dead.messages) == 3, what="three dead letters")
    m = await observed.scrape()
    assert m.value("sipline_commands_total", type="other", outcome="rejected") == 3
    assert not any(v.startswith("made.up") for v in m.label_values())
