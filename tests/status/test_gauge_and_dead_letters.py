"""``sipline_lines`` from the store, and the dead-letter summary from the real DLQ."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from prometheus_client import CollectorRegistry

from tests.amqp_helpers import AMQP_URL
from tests.ops.dlq.conftest import DlqEnv, env  # noqa: F401
from tests.projection.events import deleted, later
from tests.status.fixtures import fill
from worker.adapters.store import SqlStore
from worker.status.dead_letters import DeadLetterCache
from worker.status.gauge import LinesGauge
from worker.status.query import StatusQuery


def sample(registry: CollectorRegistry, portal: str, verdict: str) -> float | None:
    return registry.get_sample_value("sipline_lines", {"portal": portal, "verdict": verdict})


async def test_gauge_counts_live_lines_and_drops_pairs_that_emptied(store: SqlStore) -> None:
    registry = CollectorRegistry()
    gauge = LinesGauge(registry=registry, query=StatusQuery(store=store))
    await fill(store)
    await gauge.refresh()
    assert sample(registry, "alpha.test", "config_drift") == 1
    assert sample(registry, "alpha.test", "registration_failed") == 1
    assert sample(registry, "alpha.test", "in_sync") == 1  # the deleted line is not counted
    assert sample(registry, "beta.test", "in_sync") == 1
    await fill(store, [deleted("beta.test", 7, at=later(20))])
    await gauge.refresh()
    assert sample(registry, "beta.test", "in_sync") is None


async def test_dead_letter_summary_by_reason_cached_and_never_slow(env: DlqEnv) -> None:  # noqa: F811
    for _ in range(3):
        await env.dead_letter(reason="schema_violation")
    await env.transient_dead_letter()
    now = [datetime(2026, 11, 30, 12, 0, tzinfo=UTC)]
    cache = DeadLetterCache(
        amqp_url=AMQP_URL, names=env.names, ttl=30, wait=5.0, clock=lambda: now[0]
    )
    try:
        view = await cache.summary()
        assert view is not None
        assert view.depth == 4
        assert [(g.reason, g.type, g.count) for g in view.groups] == [
            ("schema_violation", "line.create", 3),
            ("retries_exhausted", "line.create", 1),
        ]
        await env.dead_letter(reason="schema_violation")
        assert (await cache.summary()) is view  # fresh: from the cache, the queue untouched
        now[0] += timedelta(seconds=31)
        again = await cache.summary()
        assert again is not None
        assert again.depth == 5
        queue = await env.channel.declare_queue(env.names.dead_letter_queue, passive=True)
        assert queue.declaration_result.message_count == 5  # reading handed every letter back
    finally:
        await cache.close()


async def test_an_unreachable_broker_shows_as_a_problem_within_the_wait() -> None:
    from worker.adapters.amqp.topology import Names

    cache = DeadLetterCache(
        amqp_url="amqp://guest:guest@127.0.0.1:1/", names=Names("nowhere"), wait=3.0
    )
    try:
        view = await cache.summary()  # a refused connection fails at once
        assert view is not None
        assert view.problem is not None
        assert "could not read the dead-letter queue" in view.problem
        assert view.depth is None
    finally:
        await cache.close()
