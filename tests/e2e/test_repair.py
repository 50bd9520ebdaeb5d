"""The repair policy end to end: real broker, sandbox portal and account, real store.

The portal is registered in the store under ``repair`` with a budget of 2 and its own
Voximplant account, so the registry carries the policy to the handlers. A divergence the
sandbox injects on the Voximplant side is healed by the repair (the sandbox's
``voximplant.sip.update`` pushes the line to its Voximplant again); a ``sticky`` one is not,
and the budget stops the repairs. The canary SIP password never reaches an event.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from tests.amqp_helpers import broker, unique_prefix, wait_for
from tests.e2e.conftest import PORTAL, Stack
from tests.runtime.conftest import runtime_settings
from tests.store.conftest import Backend, backend  # noqa: F401 - the fixture
from worker.adapters.store import SqlStore, open_store
from worker.adapters.store.tables import repairs
from worker.bootstrap import application
from worker.observability.metrics import Metrics
from worker.runtime.wiring import topology_spec
from worker.sandbox.portal import PortalOptions
from worker.sandbox.registrations import DEFAULT_PASSWORD, DEFAULT_SERVER, AcceptRule
from worker.sandbox.stack import Sandbox
from worker.store import PortalRecord

CANARY = "canary-SIP-secret-5f2d9c"  # the value no event may carry


class RepairStack(Stack):
    store: SqlStore
    metrics: Metrics

    def repairs(self, outcome: str) -> float:
        value = self.metrics.registry.get_sample_value(
            "sipline_repairs_total", {"outcome": outcome}
        )
        return value or 0.0

    def trail(self, correlation: str) -> list[dict[str, Any]]:
        """Every event of one operation, re-checks included (they share the correlation)."""
        return [e for e in self.broker.events.bodies() if e.get("correlationid") == correlation]

    async def wait_trail(
        self, correlation: str, event_type: str, *, count: int = 1, limit: float = 20.0
    ) -> list[dict[str, Any]]:
        def found() -> list[dict[str, Any]]:
            return [e for e in self.trail(correlation) if e["type"] == event_type]

        await wait_for(lambda: len(found()) >= count, limit=limit, what=event_type)
        return found()


@pytest.fixture
async def repair_stack(
    tmp_path: Path,
    backend: Backend,  # noqa: F811 - the fixture imported above
) -> AsyncIterator[RepairStack]:
    sandbox = Sandbox(
        directory=tmp_path / "sandbox",
        portals=[PortalOptions(domain=PORTAL, bucket_capacity=500, drain_per_second=100.0)],
        rules=[
            AcceptRule(DEFAULT_SERVER, "*", DEFAULT_PASSWORD),
            AcceptRule(DEFAULT_SERVER, "*", CANARY),
        ],
        wait_seconds=0.2,
        progress_seconds=0.3,
    )
    async with sandbox:
        values = sandbox.settings()
        hook = values["portals"].pop(PORTAL)["webhook_url"]
        settings = runtime_settings(
            unique_prefix("repair"),
            settle_intervals=[0.2, 0.5],
            settle_deadline=5.0,
            metrics_port=0,
            **values,
            **backend.settings().model_dump(include={"store_url", "store_schema", "store_key"}),
        )
        metrics = Metrics()
        async with open_store(settings) as store:
            async with store.unit_of_work() as uow:
                await uow.portals.add(
                    PortalRecord(
                        domain=PORTAL,
                        auth="webhook",
                        webhook_url=SecretStr(hook),
                        bucket_capacity=500,
                        drain_per_second=100.0,
                        repair_policy="repair",
                        repair_budget=2,
                        owns_voximplant_account=True,
                    )
                )
                await uow.commit()
            async with (
                broker(settings.topology_prefix, topology_spec(settings)) as b,
                application(settings, store=store, metrics=metrics) as app,
            ):
                task = asyncio.create_task(app.worker.run())
                await asyncio.wait_for(app.worker.ready.wait(), timeout=20)
                stack = RepairStack(sandbox=sandbox, app=app, broker=b)
                assert isinstance(store, SqlStore)
                stack.store = store
                stack.metrics = metrics
                try:
                    yield stack
                finally:
                    app.worker.stop()
                    await asyncio.wait_for(task, timeout=30)


async def _in_sync_line(stack: RepairStack, title: str) -> dict[str, Any]:
    created = await stack.create(title, password=CANARY)
    [reconciled] = await stack.outcome(created["command_id"], "line.reconciled")
    assert reconciled["data"]["verdict"] == "in_sync"
    return created


async def _history(store: SqlStore, config_id: int) -> list[float]:
    async with store.engine.connect() as conn:
        row = (
            await conn.execute(select(repairs.c.history).where(repairs.c.config_id == config_id))
        ).first()
    return [] if row is None else list(row[0])


@pytest.mark.parametrize(
    ("divergence", "verdict"),
    [
        ({"proxy": "drifted.example.net"}, "config_drift"),
        ({"deleted": True}, "missing_registration"),
    ],
    ids=["drift", "missing"],
)
async def test_a_diverged_line_is_repaired_and_back_in_sync(
    repair_stack: RepairStack, divergence: dict[str, Any], verdict: str
) -> None:
    stack = repair_stack
    line = await _in_sync_line(stack, "trunk")
    stack.sandbox.account.diverge(line["reg_id"], **divergence)
    cid = await stack.send("line.reconcile", {"config_id": line["config_id"]})

    [repaired] = await stack.wait_trail(cid, "line.repaired")
    checks = [e["data"] for e in stack.trail(cid) if e["type"] == "line.reconciled"]
    assert [(c["verdict"], c["repair"]) for c in checks] == [
        (verdict, "started"),
        ("in_sync", None),
    ]
    data = repaired["data"]
    assert (data["verdict_before"], data["verdict_after"], data["outcome"]) == (
        verdict,
        "in_sync",
        "done",
    )
    assert data["findings_before"] == checks[0]["findings"]
    assert data["reapplied_fields"] == ["server", "login"]
    assert (data["server"], data["login"]) == (DEFAULT_SERVER, "user-trunk")
    assert (data["repairs_in_window"], data["repair_budget"]) == (1, 2)
    assert repaired["causationid"] == f"{cid}/repair-1"
    assert CANARY not in str(stack.trail(cid))
    assert CANARY not in str(stack.broker.events.bodies())
    assert len(await _history(stack.store, line["config_id"])) == 1  # counted in the store
    assert stack.repairs("done") == 1


async def test_a_line_no_repair_heals_is_repaired_budget_times_then_left_alone(
    repair_stack: RepairStack,
) -> None:
    stack = repair_stack
    line = await _in_sync_line(stack, "stuck")
    stack.sandbox.account.diverge(line["reg_id"], proxy="drifted.example.net", sticky=True)
    cid = await stack.send("line.reconcile", {"config_id": line["config_id"]})

    def exhausted() -> list[dict[str, Any]]:
        return [
            e
            for e in stack.trail(cid)
            if e["type"] == "line.reconciled" and e["data"]["repair"] == "exhausted"
        ]

    await wait_for(lambda: bool(exhausted()), limit=20, what="repair: exhausted")
    await asyncio.sleep(1.5)  # long enough for one more re-check, were one scheduled
    checks = [e["data"] for e in stack.trail(cid) if e["type"] == "line.reconciled"]
    assert [(c["verdict"], c["repair"]) for c in checks] == [
        ("config_drift", "started"),
        ("config_drift", "started"),
        ("config_drift", "exhausted"),
    ]
    assert checks[-1]["findings"][-1].startswith("repair_exhausted: 2 repairs")
    outcomes = [e["data"]["outcome"] for e in stack.trail(cid) if e["type"] == "line.repaired"]
    assert outcomes == ["failed", "failed"]

    # a later check within the hour reports it again and repairs nothing
    again = await stack.send("line.reconcile", {"config_id": line["config_id"]})
    [check] = await stack.wait_trail(again, "line.reconciled")
    assert check["data"]["repair"] == "exhausted"
    await asyncio.sleep(1.0)
    assert [e["type"] for e in stack.trail(again)] == ["line.reconciled"]
    assert len(await _history(stack.store, line["config_id"])) == 2
    assert (stack.repairs("failed"), stack.repairs("exhausted")) == (2, 2)
    assert CANARY not in str(stack.broker.events.bodies())


async def test_registration_failed_is_never_repaired(repair_stack: RepairStack) -> None:
    stack = repair_stack
    created = await stack.create("wrong", password="not-the-password")
    [check] = await stack.outcome(created["command_id"], "line.reconciled")
    assert (check["data"]["verdict"], check["data"]["repair"]) == ("registration_failed", None)
    await asyncio.sleep(1.0)
    assert [e["type"] for e in stack.trail(created["command_id"])] == [
        "line.created",
        "line.reconciled",
    ]


async def test_a_sweep_lists_the_registrations_no_line_references(
    repair_stack: RepairStack,
) -> None:
    stack = repair_stack
    line = await _in_sync_line(stack, "kept")
    stray = stack.sandbox.store.create(DEFAULT_SERVER, "left-behind", CANARY).reg_id
    cid = await stack.send("portal.sweep", {})
    [swept] = await stack.outcome(cid, "portal.swept")
    orphans = swept["data"]["orphans"]
    assert orphans["count"] == 1
    [orphan] = orphans["registrations"]
    assert orphan["sip_registration_id"] == stray != line["reg_id"]
    assert (orphan["sip_username"], orphan["proxy"]) == ("left-behind", DEFAULT_SERVER)
    assert CANARY not in str(swept)
