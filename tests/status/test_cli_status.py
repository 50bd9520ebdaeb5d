"""``sipline status`` against a real store: tables, filters, JSON, and --rebuild."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from click.testing import Result

from tests.amqp_helpers import Broker
from tests.projection.conftest import log_broker, publish  # noqa: F401
from tests.status.fixtures import DRIFT_FINDING, FAILED_FINDING, fill, scenario
from tests.status.test_http import mark_lost
from tests.store.cli_helpers import invoke as invoke_in_thread
from tests.store.cli_helpers import store_env
from tests.store.conftest import Backend
from worker.adapters.store import SqlStore


async def invoke(backend: Backend, *args: str, **kw: Any) -> Result:
    """The command in a thread: it runs its own event loop, as it does from a shell."""
    return await asyncio.to_thread(invoke_in_thread, backend, *args, **kw)


async def test_tables_per_portal_worst_first_plain_when_piped(
    backend: Backend, store: SqlStore
) -> None:
    await fill(store)
    result = await invoke(backend, "status")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "\x1b[" not in result.output  # not a terminal: no colour codes
    assert lines[0] == "alpha.test: 3 lines (1 registration_failed, 1 config_drift, 1 in_sync)"
    assert lines[1].split() == [
        "CONFIG_ID", "TITLE", "TYPE", "REG_ID", "VERDICT", "SINCE", "CHECKED", "FINDINGS"
    ]  # fmt: skip
    rows = [line.split()[:5] for line in lines[2:5]]
    assert rows == [
        ["2", "warehouse", "cloud", "1002", "registration_failed"],
        ["1", "office-main", "cloud", "1001", "config_drift"],
        ["3", "reception", "cloud", "1003", "in_sync"],
    ]
    assert lines[2].endswith(FAILED_FINDING)  # findings whole, not cut, into a pipe
    assert lines[3].endswith(DRIFT_FINDING)
    assert "old-branch" not in result.output  # deleted: only with --deleted
    assert lines[6].startswith("beta.test: 1 lines")
    assert lines[-1] == "last sweep: 2026-11-30 10:08:00 UTC (beta.test)"


async def test_filters_and_json(backend: Backend, store: SqlStore) -> None:
    await fill(store)
    result = await invoke(backend, "status", "--out-of-sync", "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert [(x["portal"], x["config_id"], x["verdict"]) for x in document["lines"]] == [
        ("alpha.test", 2, "registration_failed"),
        ("alpha.test", 1, "config_drift"),
    ]
    drift = document["lines"][1]
    assert drift["findings"] == [DRIFT_FINDING]
    assert drift["verdict_since"] == "2026-11-30T10:05:00Z"
    assert drift["last_command_id"] == "c-check"
    assert document["portals"] == [
        {
            "portal": "alpha.test",
            "lines": 3,
            "out_of_sync": 2,
            "verdicts": {"registration_failed": 1, "config_drift": 1, "in_sync": 1},
        }
    ]
    assert document["last_sweep"] == {"portal": "beta.test", "time": "2026-11-30T10:08:00Z"}

    only = json.loads((await invoke(backend, "status", "--portal", "beta.test", "--json")).output)
    assert [x["config_id"] for x in only["lines"]] == [7]
    deleted = json.loads(
        (await invoke(backend, "status", "--portal", "alpha.test", "--deleted", "--json")).output
    )
    assert [x["config_id"] for x in deleted["lines"] if x["deleted"]] == [4]
    drift_only = await invoke(backend, "status", "--verdict", "config_drift")
    assert "office-main" in drift_only.output
    assert "warehouse" not in drift_only.output
    none = await invoke(backend, "status", "--verdict", "in_sync", "--out-of-sync")
    assert none.exit_code == 0
    assert "no lines match" in none.output
    bad = await invoke(backend, "status", "--verdict", "great")
    assert bad.exit_code == 2


async def test_rebuild_reads_the_event_log_again(
    backend: Backend,
    store: SqlStore,
    log_broker: Broker,  # noqa: F811
) -> None:
    await publish(log_broker, *scenario())
    env = store_env(backend, SIPLINE_TOPOLOGY_PREFIX=log_broker.spec.names.prefix)
    result = await invoke(backend, "status", "--rebuild", "--out-of-sync", "--json", env=env)
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert [x["config_id"] for x in document["lines"]] == [2, 1]
    assert "12 events applied" in result.stderr
    async with store.unit_of_work(readonly=True) as uow:
        assert await uow.lines.position(log_broker.spec.names.events_log) == 11


async def test_rebuild_without_a_broker_is_one_line_and_exit_1(
    backend: Backend, store: SqlStore
) -> None:
    env = store_env(backend, SIPLINE_AMQP_URL="amqp://guest:guest@127.0.0.1:1/")
    result = await invoke(backend, "status", "--rebuild", env=env)
    assert result.exit_code == 1
    assert "cannot reach the broker" in result.stderr


async def test_a_portal_that_needs_authorising_again_heads_the_output(
    backend: Backend, store: SqlStore
) -> None:
    await fill(store)
    await mark_lost(store, "beta.test")
    result = await invoke(backend, "status")
    assert result.exit_code == 0, result.output
    first = result.output.splitlines()[0]
    assert first.startswith("portal beta.test NEEDS AUTHORISING AGAIN since ")
    assert "(refresh_lost)" in first
    assert "sipline dlq replay --reason reauthorization_required" in first
