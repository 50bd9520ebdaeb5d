"""The runtime against the real RabbitMQ: outcomes, the failure policy, shutdown."""

from __future__ import annotations

import json

from tests.amqp_helpers import command, wait_for
from tests.runtime.conftest import RunWorker
from tests.runtime.fakes import ScriptedHandler
from worker.runtime import headers


def reconcile(config_id: int, **kw: object) -> dict[str, object]:
    return command("line.reconcile", {"config_id": config_id}, **kw)  # type: ignore[arg-type]


async def test_command_round_trip(run_worker: RunWorker) -> None:
    handler = ScriptedHandler()
    async with run_worker({"line.reconcile": handler}) as (_, b):
        cmd = reconcile(7, id_="cmd-round-trip")
        cmd["correlationid"] = "corr-1"
        await b.publish(cmd)
        await wait_for(lambda: len(b.events.messages) == 1, what="line.reconciled")
        msg = b.events.messages[0]
        event = json.loads(msg.body)
        assert event["type"] == "line.reconciled" == msg.routing_key == msg.type
        assert event["causationid"] == "cmd-round-trip"
        assert event["correlationid"] == "corr-1" == msg.correlation_id
        assert event["portal"] == "example.bitrix24.ru"
        assert event["data"]["verdict"] == "in_sync"
        assert event["dataschema"] == "urn:sipline:schema:line.reconciled:v1"
        assert msg.content_type == "application/cloudevents+json"
        assert msg.message_id == event["id"]
        assert msg.delivery_mode == 2
        assert await b.queue_depth(b.spec.names.commands_queue) == 0


async def test_transient_failure_is_retried_after_a_delay(run_worker: RunWorker) -> None:
    handler = ScriptedHandler(transient_first={9: 2})
    async with run_worker({"line.reconcile": handler}) as (_, b):
        await b.publish(reconcile(9))
        await wait_for(lambda: len(b.events.messages) == 1, what="success after retries")
        assert handler.calls[9] == 3
        assert handler.attempts_seen == [1, 2, 3]
        assert b.events.bodies()[0]["data"]["attempts"] == 3
        assert b.dead.messages == []


async def test_retries_exhausted_are_dead_lettered(run_worker: RunWorker) -> None:
    handler = ScriptedHandler(always_transient={5})
    async with run_worker({"line.reconcile": handler}, max_attempts=3) as (_, b):
        await b.publish(reconcile(5, id_="doomed"))
        await wait_for(lambda: len(b.dead.messages) == 1, what="dead letter")
        await wait_for(lambda: len(b.events.of_type("command.failed")) == 1, what="command.failed")
        assert handler.calls[5] == 3
        dead = b.dead.messages[0]
        hdrs = dead.headers
        assert hdrs[headers.REASON] == "retries_exhausted"
        assert hdrs[headers.ATTEMPT] == 3
        assert hdrs[headers.ERROR_CODE] == "INTERNAL_SERVER_ERROR"
        assert hdrs[headers.ORIGINAL_ROUTING_KEY] == "line.reconcile"
        assert hdrs[headers.ORIGINAL_EXCHANGE] == b.spec.names.commands_exchange
        assert len(json.loads(hdrs[headers.FAILURES])) == 3
        assert dead.routing_key == "line.reconcile"
        assert json.loads(dead.body)["id"] == "doomed"
        failed = b.events.of_type("command.failed")[0]["data"]
        assert failed == {
            "command_type": "line.reconcile",
            "error_code": "INTERNAL_SERVER_ERROR",
            "message": "portal unavailable",
            "retryable": True,
            "attempts": 3,
        }


async def test_permanent_failure_is_acked_without_dead_letter(run_worker: RunWorker) -> None:
    handler = ScriptedHandler(permanent={4})
    async with run_worker({"line.reconcile": handler}) as (_, b):
        await b.publish(reconcile(4))
        await b.publish(reconcile(8))
        await wait_for(lambda: len(b.events.messages) == 2, what="two outcomes")
        failed = b.events.of_type("command.failed")[0]["data"]
        assert failed["error_code"] == "ERROR_NOT_FOUND"
        assert failed["retryable"] is False
        assert handler.calls[4] == 1
        assert b.dead.messages == []
        assert await b.queue_depth(b.spec.names.commands_queue) == 0
