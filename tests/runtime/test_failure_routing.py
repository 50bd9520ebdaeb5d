"""Failures that must not loop and must stay replayable, against the real broker: a
configuration failure is dead-lettered with its reason (and reported ``command.failed``); a
copy whose headers AMQP cannot carry again is rejected, not returned to the queue."""

from __future__ import annotations

import asyncio
import json

import pytest
from aio_pika.abc import AbstractIncomingMessage, AbstractQueue

from tests.amqp_helpers import broker, command, unique_prefix, wait_for
from tests.runtime.conftest import RunWorker, runtime_settings
from tests.runtime.fakes import ScriptedHandler
from worker.adapters.amqp.publisher import Publisher
from worker.errors import (
    AuthorizationError,
    NeedsOperator,
    PermanentError,
    TransientError,
)
from worker.runtime import headers
from worker.runtime.policy import Action, RetryPolicy
from worker.runtime.processor import Processor, ProcessorConfig
from worker.runtime.wiring import topology_spec


def reconcile(config_id: int, **kw: object) -> dict[str, object]:
    return command("line.reconcile", {"config_id": config_id}, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("error", "action"),
    [
        pytest.param(AuthorizationError("x", code="ACCESS_DENIED"), Action.PARK, id="access"),
        pytest.param(AuthorizationError("x", code="invalid_grant"), Action.PARK, id="grant"),
        pytest.param(NeedsOperator("x", code="CONNECTOR_UNPAID"), Action.PARK, id="unpaid"),
        pytest.param(PermanentError("x", code="ERROR_NOT_FOUND"), Action.FAIL, id="permanent"),
        pytest.param(TransientError("x"), Action.RETRY, id="transient"),
    ],
)
def test_the_policy_parks_configuration_failures(error: Exception, action: Action) -> None:
    decision = RetryPolicy(delays=(1.0,), max_attempts=3).decide(error, attempt=1)

    assert decision.action is action
    assert (decision.dead_letter_reason == "configuration_error") is (action is Action.PARK)


async def test_a_configuration_failure_is_dead_lettered_and_reported(
    run_worker: RunWorker,
) -> None:
    handler = ScriptedHandler(needs_operator={3})
    async with run_worker({"line.reconcile": handler}) as (_, b):
        await b.publish(reconcile(3, id_="after-rotation"), headers={"x-tenant": "acme"})

        await wait_for(lambda: len(b.dead.messages) == 1, what="the dead letter")
        await wait_for(lambda: len(b.events.of_type("command.failed")) == 1, what="failed")

        assert handler.calls[3] == 1, "not retried: retrying cannot fix credentials"
        dead = b.dead.messages[0]
        assert json.loads(dead.body)["id"] == "after-rotation", "the command, for a replay"
        assert dead.headers[headers.REASON] == "configuration_error"
        assert dead.headers[headers.ERROR_CODE] == "ACCESS_DENIED"
        assert dead.headers["x-tenant"] == "acme"
        failed = b.events.of_type("command.failed")[0]
        assert failed["causationid"] == "after-rotation"
        assert failed["data"]["error_code"] == "ACCESS_DENIED"
        assert failed["data"]["retryable"] is False


async def test_a_portal_needing_reauthorisation_parks_with_its_own_reason(
    run_worker: RunWorker,
) -> None:
    handler = ScriptedHandler(reauthorize={5})
    async with run_worker({"line.reconcile": handler}) as (_, b):
        await b.publish(reconcile(5, id_="pair-lost"))

        await wait_for(lambda: len(b.dead.messages) == 1, what="the dead letter")
        await wait_for(lambda: len(b.events.of_type("command.failed")) == 1, what="failed")

        dead = b.dead.messages[0]
        assert dead.headers[headers.REASON] == "reauthorization_required"
        assert dead.headers[headers.ERROR_CODE] == "OAUTH_REAUTHORIZATION_REQUIRED"
        failed = b.events.of_type("command.failed")[0]
        assert failed["data"]["error_code"] == "OAUTH_REAUTHORIZATION_REQUIRED"
        assert failed["data"]["retryable"] is False


async def test_a_copy_that_cannot_be_encoded_is_a_rejection_not_a_loop() -> None:
    """A real delivery, handed to the processor with one decoded header AMQP cannot carry
    again (an integer past 2**63: the client decodes nothing like it today, but a retry or
    a dead letter that copies such a value can never be published)."""
    settings = runtime_settings(unique_prefix("enc"))
    spec = topology_spec(settings)
    handler = ScriptedHandler(always_transient={8})
    async with broker(settings.topology_prefix, spec) as b:
        processor = Processor(
            publisher=Publisher(
                events=await b.channel.get_exchange(spec.names.events_exchange),
                delay=await b.channel.get_exchange(spec.names.delay_exchange),
                dead_letters=await b.channel.get_exchange(spec.names.dead_letter_exchange),
            ),
            handlers={"line.reconcile": handler},
            policy=RetryPolicy(delays=(0.2,), max_attempts=3),
            topology=spec,
            config=ProcessorConfig(
                max_body_bytes=65536, version="test", commands_exchange=spec.names.commands_exchange
            ),
        )
        await b.publish(reconcile(8, id_="poison-header"), headers={"x-tenant": "acme"})
        queue = await b.channel.get_queue(spec.names.commands_queue)
        delivery = await _get(queue)
        delivery.headers["x-price"] = 2**64

        await processor(delivery)

        await wait_for(lambda: len(b.dead.messages) == 1, what="the dead letter")
        await wait_for(lambda: len(b.events.of_type("command.rejected")) == 1, what="rejected")
        assert handler.calls[8] == 1, "rejected at once, never returned to the queue"
        dead = b.dead.messages[0]
        assert json.loads(dead.body)["id"] == "poison-header"
        assert dead.headers[headers.REASON] == "invalid_input"
        assert dead.headers[headers.ERROR_CODE] == "UNENCODABLE_HEADERS"
        assert "x-price" not in dead.headers
        rejected = b.events.of_type("command.rejected")[0]
        assert rejected["causationid"] == "poison-header"
        assert rejected["data"]["reason"] == "invalid_input"
        assert [e["field"] for e in rejected["data"]["errors"]] == ["headers.x-price"]
        assert await b.queue_depth(spec.names.commands_queue) == 0
        assert await b.queue_depth(spec.names.delay_queue(0.2)) == 0


async def _get(queue: AbstractQueue) -> AbstractIncomingMessage:
    deadline = asyncio.get_running_loop().time() + 10
    while (message := await queue.get(fail=False)) is None:
        assert asyncio.get_running_loop().time() < deadline, "the command never arrived"
        await asyncio.sleep(0.02)
    return message
