"""``POST /voximplant/callbacks`` on a real aiohttp server, over the real store (SQLite and
PostgreSQL) and the real broker: what is refused, what becomes a ``line.reconcile``."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aio_pika
import pytest
from aio_pika.abc import AbstractRobustConnection
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from tests.amqp_helpers import AMQP_URL, Broker, broker, spec_for, unique_prefix
from tests.callbacks.helpers import ACCOUNT, API_KEY, SALT, fail, recovered, sign
from tests.lifecycle.processes import Proxy
from tests.projection.events import created
from tests.status.fixtures import fill
from tests.store.conftest import Backend
from worker.adapters.amqp.commands import CommandPublisher
from worker.adapters.store import SqlStore, open_store
from worker.callbacks import CallbackIntake, CallbackSecrets
from worker.callbacks.commands import command_id
from worker.callbacks.metrics import CallbackMetrics
from worker.http.callbacks import PATH, VoximplantCallbackRoutes, voximplant_callback_routes
from worker.settings import Settings
from worker.store import Store

Client = TestClient[web.Request, web.Application]
LINES = [
    created("alpha.test", 1, "alpha-one"),  # reg 1001
    created("beta.test", 2, "beta-two"),  # reg 1002
    created("gone.test", 3, "gone-three"),  # reg 1003: a portal no longer served
]
SERVED = {"alpha.test", "beta.test"}


@dataclass
class Route:
    client: Client
    store: Store
    broker: Broker
    registry: CollectorRegistry

    async def post(self, *callbacks: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        return await self.post_raw(json.dumps({"callbacks": list(callbacks)}).encode())

    async def post_raw(self, body: bytes, **kw: Any) -> tuple[int, dict[str, Any]]:
        response = await self.client.post(PATH, data=body, **kw)
        text = await response.text()
        for secret in (SALT, API_KEY):
            assert secret not in text
        return response.status, json.loads(text)

    async def commands(self) -> list[dict[str, Any]]:
        """Every command on the commands queue now (taken off it)."""
        queue = await self.broker.channel.get_queue(self.broker.spec.names.commands_queue)
        found = []
        while (message := await queue.get(fail=False, no_ack=True)) is not None:
            found.append({"_type": message.type, **json.loads(message.body)})
        return found

    async def recorded(self, *callback_ids: int) -> set[str]:
        async with self.store.unit_of_work(readonly=True) as uow:
            return await uow.callbacks.seen(ACCOUNT, [str(i) for i in callback_ids])

    def count(self, name: str, **labels: str) -> float:
        return self.registry.get_sample_value(name, labels) or 0.0


def intake_routes(
    store: Store, connection: AbstractRobustConnection, prefix: str, registry: CollectorRegistry
) -> VoximplantCallbackRoutes:
    metrics = CallbackMetrics(registry)
    publisher = CommandPublisher(connection=connection, exchange=f"{prefix}.commands", timeout=2.0)
    intake = CallbackIntake(
        store=store,
        commands=publisher,
        secrets=CallbackSecrets(
            salt=SecretStr(SALT), api_key=SecretStr(API_KEY), account_id=ACCOUNT
        ),
        observer=metrics,
        served=SERVED.__contains__,
    )
    return VoximplantCallbackRoutes(
        intake=intake, metrics=metrics, publisher=publisher, max_bytes=64 * 1024
    )


@asynccontextmanager
async def serving(
    store: Store, *, amqp_url: str = AMQP_URL, max_bytes: int | None = None
) -> AsyncIterator[Route]:
    prefix = unique_prefix("cb")
    registry = CollectorRegistry()
    async with AsyncExitStack() as stack:
        b = await stack.enter_async_context(broker(prefix, spec_for(prefix)))
        connection = await aio_pika.connect_robust(amqp_url)
        stack.push_async_callback(connection.close)
        routes = intake_routes(store, connection, prefix, registry)
        if max_bytes is not None:
            routes.max_bytes = max_bytes
        app = web.Application()
        routes.install(app)
        client = await stack.enter_async_context(TestClient(TestServer(app)))
        yield Route(client=client, store=store, broker=b, registry=registry)


@pytest.fixture
async def route(store: SqlStore) -> AsyncIterator[Route]:
    await fill(store, LINES)
    async with serving(store) as served:
        yield served


async def test_a_good_callback_becomes_line_reconcile_commands(route: Route) -> None:
    status, body = await route.post(fail(41, 1001, 1002, 1003, 777))
    assert status == 200, body
    assert body["accepted"] == [41]
    assert body["orphans"] == [777]
    assert body["unserved"] == [1003]
    assert body["reconciles"] == 2
    commands = await route.commands()
    assert sorted((c["portal"], c["data"]["config_id"]) for c in commands) == [
        ("alpha.test", 1),
        ("beta.test", 2),
    ]
    for command in commands:
        assert command["type"] == command["_type"] == "line.reconcile"
        assert command["source"] == "urn:sipline:voximplant-callbacks"
        assert command["subject"] == f"lines/{command['data']['config_id']}"
        uuid.UUID(command["id"])
    # the id is a function of account, callback and line: a re-sent callback repeats it
    ids = {c["portal"]: c["id"] for c in commands}
    assert ids == {
        "alpha.test": command_id(ACCOUNT, 41, "alpha.test", 1),
        "beta.test": command_id(ACCOUNT, 41, "beta.test", 2),
    }
    assert command_id(ACCOUNT, 42, "alpha.test", 1) != ids["alpha.test"]
    assert await route.recorded(41) == {"41"}
    async with route.store.unit_of_work(readonly=True) as uow:
        assert set(await uow.callbacks.last_by_portal()) == {"alpha.test", "beta.test"}
    name = "sipline_voximplant_callback_registrations_total"
    assert route.count(name, outcome="reconcile") == 2
    assert route.count(name, outcome="unknown") == 1
    assert route.count(name, outcome="unserved") == 1
    received = "sipline_voximplant_callbacks_received_total"
    assert route.count(received, type="sip_registration_fail") == 1


async def test_several_callbacks_in_one_request_each_count(route: Route) -> None:
    status, body = await route.post(fail(1, 1001), recovered(2, 1001), recovered(3, 555))
    assert status == 200
    assert (body["accepted"], body["orphans"], body["reconciles"]) == ([1, 2, 3], [555], 2)
    commands = await route.commands()
    assert [c["data"]["config_id"] for c in commands] == [1, 1]
    assert commands[0]["id"] != commands[1]["id"]  # one per callback
    assert await route.recorded(1, 2, 3) == {"1", "2", "3"}


async def test_a_callback_of_another_type_is_acknowledged_and_ignored(route: Route) -> None:
    other = {"callback_id": 50, "type": "min_balance", "account_id": ACCOUNT, "hash": sign(50)}
    status, body = await route.post(other)
    assert (status, body["accepted"], body["reconciles"]) == (200, [50], 0)
    assert await route.commands() == []
    assert await route.recorded(50) == {"50"}
    assert route.count("sipline_voximplant_callbacks_received_total", type="other") == 1


async def test_forged_unsigned_and_foreign_callbacks_are_refused(route: Route) -> None:
    forged = fail(5, 1001, signature=sign(5, salt="guessed-salt"))
    copied = fail(6, 1001, signature=sign(5))  # a real hash, of another callback
    status, body = await route.post(forged, copied)
    assert status == 403
    assert body["refused"] == {"5": "forged", "6": "forged"}
    status, body = await route.post(fail(7, 1001, signature=None), fail(8, 1001, signature=""))
    assert (status, body["refused"]) == (403, {"7": "unsigned", "8": "unsigned"})
    foreign = fail(9, 1001, account_id=ACCOUNT + 1)  # signed right, for another account
    status, body = await route.post(foreign)
    assert (status, body["refused"]) == (403, {"9": "foreign_account"})
    # a genuine one in the same request is still handled
    status, body = await route.post(fail(10, 1001, signature="0" * 32), fail(11, 1002))
    assert (status, body["accepted"], body["refused"]) == (200, [11], {"10": "forged"})
    commands = await route.commands()
    assert [(c["portal"], c["data"]["config_id"]) for c in commands] == [("beta.test", 2)]
    assert await route.recorded(5, 6, 7, 8, 9, 10) == set()
    refused = "sipline_voximplant_callbacks_refused_total"
    assert route.count(refused, reason="forged") == 3
    assert route.count(refused, reason="unsigned") == 2
    assert route.count(refused, reason="foreign_account") == 1


async def test_a_replayed_callback_publishes_nothing(route: Route) -> None:
    assert (await route.post(fail(20, 1001)))[0] == 200
    assert len(await route.commands()) == 1
    status, body = await route.post(fail(20, 1001), fail(21, 1002), fail(21, 1002))
    assert status == 200
    assert (body["accepted"], body["replayed"]) == ([21], [20, 21])
    commands = await route.commands()
    assert [c["data"]["config_id"] for c in commands] == [2]
    status, body = await route.post(fail(20, 1001))
    assert (status, body["accepted"], body["replayed"]) == (200, [], [20])
    assert await route.commands() == []
    assert route.count("sipline_voximplant_callbacks_refused_total", reason="replayed") == 3


async def test_malformed_and_oversized_requests_are_refused(route: Route) -> None:
    for bad in (b"", b"{", b"[1]", b'{"callbacks": "x"}', json.dumps({"callbacks": [{}]}).encode()):
        status, body = await route.post_raw(bad)
        assert status == 400, bad
        assert body["error"].startswith("not a callback request: ")
    big = json.dumps({"callbacks": [fail(1, 1001)], "pad": "x" * 70_000}).encode()
    assert (await route.post_raw(big))[0] == 413

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted while read
        for _ in range(20):
            yield b" " * 8192

    response = await route.client.post(PATH, data=chunks())
    assert response.status == 413
    assert (await route.client.get(PATH)).status == 405
    refused = "sipline_voximplant_callbacks_refused_total"
    assert route.count(refused, reason="malformed") == 5
    assert route.count(refused, reason="too_large") == 2
    assert await route.commands() == []


async def test_without_salt_and_key_the_route_is_off_and_says_so_at_start(
    store: SqlStore, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="worker.http.callbacks")
    settings = Settings(_env_file=None, voximplant_api_key=SecretStr(API_KEY))  # type: ignore[call-arg]
    connection = await aio_pika.connect_robust(AMQP_URL)
    try:
        routes = voximplant_callback_routes(
            settings,
            store=store,
            connection=connection,
            registry=CollectorRegistry(),
            account_id=ACCOUNT,
            served=lambda portal: True,
        )
    finally:
        await connection.close()
    (line,) = [r.getMessage() for r in caplog.records if "callbacks are off" in r.getMessage()]
    assert "SIPLINE_VOXIMPLANT_CALLBACK_SALT not set" in line
    assert API_KEY not in caplog.text
    app = web.Application()
    routes.install(app)
    async with TestClient(TestServer(app)) as client:
        response = await client.post(PATH, json={"callbacks": [fail(1, 1001)]})
        assert response.status == 503
        assert "SIPLINE_VOXIMPLANT_CALLBACK_SALT not set" in (await response.json())["error"]


async def test_with_the_broker_away_the_answer_is_503_and_nothing_is_recorded(
    store: SqlStore,
) -> None:
    await fill(store, LINES)
    cut = Proxy()
    await cut.start()
    async with serving(store, amqp_url=cut.url()) as route:
        await cut.cut()
        status, body = await route.post(fail(30, 1001))
        assert status == 503
        assert "not confirmed by the broker" in body["error"]
        assert await route.recorded(30) == set()
        assert route.count("sipline_voximplant_callbacks_refused_total", reason="unavailable") == 1
    async with serving(store) as route:  # Voximplant sends it again once the broker is back
        status, body = await route.post(fail(30, 1001))
        assert (status, body["accepted"]) == (200, [30])
        assert len(await route.commands()) == 1


async def test_with_the_store_away_the_answer_is_503(backend: Backend) -> None:
    if backend.name != "postgresql":
        pytest.skip("a database server to lose: PostgreSQL")
    cut = Proxy(target=("127.0.0.1", 5432))
    await cut.start()
    url = backend.url.replace("127.0.0.1:5432", f"127.0.0.1:{cut.port}")
    async with open_store(backend.settings(store_url=SecretStr(url))) as store:
        await fill(store, LINES)
        async with serving(store) as route:
            await cut.cut()
            status, body = await route.post(fail(31, 1001))
            assert status == 503
            assert "the store cannot answer now" in body["error"]
            assert await route.commands() == []
