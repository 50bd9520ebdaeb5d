"""Real-broker fixtures for ``sipline dlq``: a fresh topology per test, dead letters made
the way the worker and the broker make them, and probes of every queue.

The DLQ fixtures live under ``tests/ops/dlq/`` so other tooling's tests in ``tests/ops/``
keep their own conftest.
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aio_pika
import pytest
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractQueue

from tests.amqp_helpers import AMQP_URL, command, spec_for, unique_prefix, wait_for
from worker.adapters.amqp.topology import Names, TopologySpec, declare, delete_all
from worker.errors import BadInput, FieldProblem, SiplineError, UpstreamUnavailable
from worker.ops.dlq.broker import DlqBroker, open_broker
from worker.runtime.headers import record_failure

CANARY = "canary-pw-7f3a9c"  # a password that must never be printed


def sample_body(
    type_: str = "line.create", *, portal: str = "example.bitrix24.ru", id_: str | None = None
) -> dict[str, Any]:
    return command(
        type_,
        {"title": "Office", "server": "sip.example.com", "login": "100", "password": CANARY},
        portal=portal,
        id_=id_,
    )


@dataclass
class DlqEnv:
    """One test's topology and a channel to poke it with."""

    spec: TopologySpec
    connection: aio_pika.abc.AbstractConnection
    channel: AbstractChannel
    events_tap: AbstractQueue

    @property
    def names(self) -> Names:
        return self.spec.names

    def open(self) -> AbstractAsyncContextManager[DlqBroker]:
        return open_broker(AMQP_URL, self.names)

    async def dead_letter(
        self,
        *,
        type_: str = "line.create",
        portal: str = "example.bitrix24.ru",
        error: SiplineError | None = None,
        reason: str = "schema_violation",
        attempt: int = 1,
        body: bytes | None = None,
        message_id: str | None = None,
        now: datetime | None = None,
        extra_headers: Mapping[str, Any] | None = None,
    ) -> str:
        """Publish into the DLX what the worker's processor would; returns the message id."""
        if body is None:
            payload = sample_body(type_, portal=portal, id_=message_id)
            message_id = payload["id"]
            body = json.dumps(payload).encode()
        message_id = message_id or uuid.uuid4().hex
        failure = error or BadInput(
            "password is too short",
            reason=reason,
            problems=[FieldProblem("data.password", "short")],
        )
        headers = record_failure(
            dict(extra_headers or {}),
            failure,
            attempt=attempt,
            reason=reason,
            exchange=self.names.commands_exchange,
            routing_key=type_,
            version="0.1.0-test",
            now=now,
        )
        await self._publish_dlx(body, type_, headers, message_id)
        return message_id

    async def transient_dead_letter(self, **kw: Any) -> str:
        kw.setdefault("reason", "retries_exhausted")
        kw.setdefault("attempt", 3)
        return await self.dead_letter(error=UpstreamUnavailable("portal answered 503"), **kw)

    async def _publish_dlx(
        self, body: bytes, routing_key: str, headers: dict[str, Any], message_id: str
    ) -> None:
        dlx = await self.channel.get_exchange(self.names.dead_letter_exchange)
        await dlx.publish(
            aio_pika.Message(
                body,
                headers=headers,
                message_id=message_id,
                correlation_id=f"corr-{message_id}",
                type=routing_key,
                content_type="application/cloudevents+json",
                timestamp=datetime.now().astimezone(),
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            ),
            routing_key=routing_key,
            mandatory=True,
        )

    async def poison(self, type_: str = "line.delete") -> str:
        """A dead letter made by the broker: a command rejected past the command queue's
        delivery limit, exactly as a poison message dies in production."""
        queue = await self.channel.get_queue(self.names.commands_queue)
        commands = await self.channel.get_exchange(self.names.commands_exchange)
        payload = sample_body(type_)
        await commands.publish(
            aio_pika.Message(
                json.dumps(payload).encode(),
                message_id=payload["id"],
                content_type="application/cloudevents+json",
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            ),
            routing_key=type_,
            mandatory=True,
        )
        before = await self.depth(self.names.dead_letter_queue)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 20
        while await self.depth(self.names.dead_letter_queue) == before:
            assert loop.time() < deadline, "the broker did not dead-letter the poison message"
            message = await queue.get(no_ack=False, fail=False, timeout=5)
            if message is not None:
                await message.nack(requeue=True)
            else:
                await asyncio.sleep(0.05)
        return str(payload["id"])

    async def depth(self, queue: str) -> int:
        declared = await self.channel.declare_queue(queue, passive=True)
        return declared.declaration_result.message_count or 0

    async def wait_depth(self, queue: str, expected: int, *, limit: float = 10.0) -> None:
        """Wait until ``queue`` holds ``expected`` ready messages (requeues are asynchronous)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        while (depth := await self.depth(queue)) != expected:
            assert loop.time() < deadline, f"{queue} holds {depth}, expected {expected}"
            await asyncio.sleep(0.02)

    async def take_all(self, queue: str) -> list[AbstractIncomingMessage]:
        """Remove every message of ``queue`` (for assertions)."""
        source = await self.channel.get_queue(queue)
        taken: list[AbstractIncomingMessage] = []
        while (message := await source.get(no_ack=True, fail=False, timeout=5)) is not None:
            taken.append(message)
        return taken

    async def peek_all(self, queue: str) -> list[AbstractIncomingMessage]:
        """Read every message of ``queue`` on a throwaway channel; closing it returns them."""
        channel = await self.connection.channel()
        seen: list[AbstractIncomingMessage] = []
        try:
            source = await channel.get_queue(queue)
            while (message := await source.get(no_ack=False, fail=False, timeout=5)) is not None:
                seen.append(message)
        finally:
            await channel.close()
        await self.wait_depth(queue, len(seen))
        return seen

    async def settle(self, total: int, *, limit: float = 20.0) -> None:
        """Wait until the DLQ and the command queue together hold ``total`` messages again
        (the broker returns a closed session's unacked messages asynchronously)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        while (
            await self.depth(self.names.dead_letter_queue)
            + await self.depth(self.names.commands_queue)
        ) < total:
            assert loop.time() < deadline, "held messages did not come back"
            await asyncio.sleep(0.02)

    async def events(self, count: int, *, limit: float = 10.0) -> list[dict[str, Any]]:
        """Wait for ``count`` events on the tap, then take them all."""
        got: list[dict[str, Any]] = []

        async def fetch() -> None:
            while (message := await self.events_tap.get(no_ack=True, fail=False)) is not None:
                got.append(json.loads(message.body))

        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        await fetch()
        while len(got) < count:
            assert loop.time() < deadline, f"expected {count} events, got {len(got)}"
            await asyncio.sleep(0.05)
            await fetch()
        return got


@pytest.fixture
async def env() -> AsyncIterator[DlqEnv]:
    spec = spec_for(unique_prefix("dlq"), delivery_limit=1)
    connection = await aio_pika.connect(AMQP_URL)
    channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
    declared = await declare(channel, spec)
    tap = await channel.declare_queue(exclusive=True, auto_delete=True)
    await tap.bind(declared.events_exchange, routing_key="#")
    state = DlqEnv(spec, connection, channel, tap)
    try:
        yield state
    finally:
        cleanup = await connection.channel()
        await delete_all(cleanup, spec)
        await connection.close()


def cli_env() -> dict[str, str]:
    """The environment for ``sipline`` subprocesses: the test broker, no stray settings."""
    out = {k: v for k, v in os.environ.items() if not k.startswith("SIPLINE_")}
    out["SIPLINE_AMQP_URL"] = AMQP_URL
    return out


__all__ = ["CANARY", "DlqEnv", "cli_env", "sample_body", "wait_for"]
