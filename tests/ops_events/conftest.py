"""Fixtures for ``sipline events``: the whole worker (``stack``) or just the topology."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aio_pika
import pytest

from tests.amqp_helpers import Broker, broker, spec_for, unique_prefix
from tests.e2e.conftest import Stack, stack  # noqa: F401
from worker.ops.events import Start, StreamReader, StreamRecord


def log_of(b: Broker) -> str:
    return b.spec.names.events_log


async def read_all(b: Broker, start: Start = "first", **kw: Any) -> list[StreamRecord]:
    """Everything a reader started now returns (it stops when caught up)."""
    async with StreamReader(connection=b.connection, queue=log_of(b), start=start, **kw) as r:
        return [record async for record in r]


def bodies(records: list[StreamRecord]) -> list[dict[str, Any]]:
    return [json.loads(r.body) for r in records]


async def publish_event(b: Broker, body: bytes, routing_key: str = "line.created") -> None:
    """Put a message on the events exchange, as the worker would (tests of odd bodies)."""
    exchange = await b.channel.get_exchange(b.spec.names.events_exchange)
    await exchange.publish(aio_pika.Message(body), routing_key=routing_key)


@pytest.fixture
async def log_broker() -> AsyncIterator[Broker]:
    """The topology alone (no worker): an empty event log stream, removed afterwards."""
    prefix = unique_prefix("ev")
    async with broker(prefix, spec_for(prefix)) as b:
        yield b


@dataclass
class Scenario:
    """What one run did: two lines, an update, a delete, a reconcile that found drift."""

    kept: dict[str, Any]
    gone: dict[str, Any]
    update_id: str
    delete_id: str
    reconcile_id: str


async def settled(s: Stack, title: str) -> dict[str, Any]:
    created = await s.create(title)
    await s.outcome(created["command_id"], "line.reconciled")
    return created


async def rest_of_scenario(s: Stack, kept: dict[str, Any], gone: dict[str, Any]) -> Scenario:
    update_id = await s.send("line.update", {"config_id": kept["config_id"], "title": "kept-2"})
    await s.outcome(update_id, "line.updated")
    delete_id = await s.send("line.delete", {"config_id": gone["config_id"]})
    await s.outcome(delete_id, "line.deleted")
    s.sandbox.account.diverge(kept["reg_id"], proxy="x.example")
    reconcile_id = await s.send("line.reconcile", {"config_id": kept["config_id"]})
    (drift,) = await s.outcome(reconcile_id, "line.reconciled")
    assert drift["data"]["verdict"] == "config_drift"
    return Scenario(kept, gone, update_id, delete_id, reconcile_id)


async def run_scenario(s: Stack) -> Scenario:
    """7 events: created+reconciled ×2, updated, deleted, reconciled (config_drift)."""
    kept = await settled(s, "kept")
    gone = await settled(s, "gone")
    return await rest_of_scenario(s, kept, gone)
