"""The demo's script: each step publishes a command and waits for its outcome.

The tour runs the real worker against the local RabbitMQ (under a topology prefix of its
own, removed afterwards) and the in-process sandbox, so everything it shows is what the
production code path does.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aio_pika
from aio_pika.abc import AbstractIncomingMessage

from contracts import COMMANDS, Command
from worker.adapters.amqp.publisher import envelope_message
from worker.sandbox.registrations import DEFAULT_PASSWORD, DEFAULT_SERVER
from worker.sandbox.stack import Sandbox

PORTAL = "sandbox.bitrix24.test"
TERMINAL = {"line.reconciled", "line.deleted", "portal.swept", "command.failed", "command.rejected"}


@dataclass
class Step:
    title: str
    command: dict[str, Any] | None = None
    raw: bytes | None = None
    routing_key: str | None = None
    before: Callable[[Tour], Awaitable[None]] | None = None
    expect: set[str] = field(default_factory=lambda: set(TERMINAL))
    count: int = 1


class Tour:
    """Runs the steps; ``on_command`` and ``on_event`` let the CLI print as things happen."""

    def __init__(
        self,
        *,
        sandbox: Sandbox,
        channel: aio_pika.abc.AbstractChannel,
        exchange: aio_pika.abc.AbstractExchange,
        on_command: Callable[[Step, str], None],
        on_event: Callable[[dict[str, Any]], None],
        step_timeout: float = 30.0,
    ) -> None:
        self.sandbox = sandbox
        self._channel = channel
        self._exchange = exchange
        self._on_command = on_command
        self._on_event = on_event
        self._timeout = step_timeout
        self.events: list[dict[str, Any]] = []
        self.lines: dict[str, int] = {}
        self.reg_ids: dict[int, int] = {}
        self._arrived = asyncio.Condition()

    async def tap(self, queue: aio_pika.abc.AbstractQueue) -> None:
        async def on_message(message: AbstractIncomingMessage) -> None:
            async with message.process():
                event = json.loads(message.body)
                if event.get("type") == "line.created":
                    data = event["data"]
                    self.lines[data["title"]] = data["config_id"]
                    if data.get("reg_id") is not None:
                        self.reg_ids[data["config_id"]] = data["reg_id"]
                self.events.append(event)
                self._on_event(event)
                async with self._arrived:
                    self._arrived.notify_all()

        await queue.consume(on_message)

    async def run(self, steps: list[Step]) -> None:
        for step in steps:
            if step.before is not None:
                await step.before(self)
            command_id = await self._publish(step)
            await self._wait(command_id, step)

    async def _publish(self, step: Step) -> str:
        if step.raw is not None:
            # the rejection names the id in the body, as it would for any publisher
            command_id = f"demo-{uuid.uuid4().hex[:8]}"
            raw = step.raw.replace(b"{id}", command_id.encode())
            message = aio_pika.Message(
                raw,
                content_type="application/cloudevents+json",
                message_id=command_id,
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            )
            await self._exchange.publish(message, routing_key=step.routing_key or "line.create")
            self._on_command(step, command_id)
            return command_id
        assert step.command is not None
        body = dict(step.command)
        body.update(specversion="1.0", id=f"demo-{uuid.uuid4().hex[:8]}", source="urn:sipline:demo")
        model: type[Command] = COMMANDS[body["type"]]
        command = model.model_validate(body)
        await self._exchange.publish(envelope_message(command), routing_key=command.MESSAGE_TYPE)
        self._on_command(step, command.id)
        return command.id

    async def _wait(self, command_id: str, step: Step) -> None:
        def done() -> bool:
            hits = [
                e
                for e in self.events
                if e.get("causationid") == command_id and e.get("type") in step.expect
            ]
            return len(hits) >= step.count

        async with self._arrived:
            await asyncio.wait_for(self._arrived.wait_for(done), timeout=self._timeout)


def line(title: str, **data: Any) -> dict[str, Any]:
    return {
        "type": "line.create",
        "portal": PORTAL,
        "data": {
            "title": title,
            "server": DEFAULT_SERVER,
            "login": title.lower().replace(" ", "-"),
            "password": DEFAULT_PASSWORD,
            **data,
        },
    }


def script() -> list[Step]:
    """The tour: a good line, a bad one, a fix, a divergence, a sweep, junk, a delete."""

    async def drift(tour: Tour) -> None:
        config_id = tour.lines["Head office"]
        tour.sandbox.account.diverge(tour.reg_ids[config_id], proxy="sip.rogue.example")

    def ref(title: str, kind: str) -> Callable[[Tour], Awaitable[None]]:
        async def fill(tour: Tour) -> None:
            step = next(s for s in steps if s.title.startswith(kind) and title in s.title)
            assert step.command is not None
            step.command["data"]["config_id"] = tour.lines[title]

        return fill

    steps = [
        Step("Create 'Head office' with the right credentials", line("Head office")),
        Step(
            "Create 'Warehouse' with a wrong password",
            line("Warehouse", password="not-the-password"),  # noqa: S106 - wrong on purpose
        ),
        Step(
            "Update 'Warehouse' with the right password",
            {"type": "line.update", "portal": PORTAL, "data": {"password": DEFAULT_PASSWORD}},
            before=ref("Warehouse", "Update"),
        ),
        Step(
            "Reconcile 'Head office' after Voximplant's proxy was changed behind its back",
            {"type": "line.reconcile", "portal": PORTAL, "data": {}},
            before=None,
        ),
        Step(
            "Sweep the whole portal",
            {"type": "portal.sweep", "portal": PORTAL, "data": {}},
            expect={"portal.swept"},
        ),
        Step(
            "Publish a malformed line.create (no login, a number for a title)",
            raw=json.dumps(
                {
                    "specversion": "1.0",
                    "id": "{id}",
                    "type": "line.create",
                    "source": "urn:sipline:demo",
                    "portal": PORTAL,
                    "data": {"title": 42, "server": DEFAULT_SERVER, "password": "x"},
                }
            ).encode(),
            routing_key="line.create",
            expect={"command.rejected"},
        ),
        Step(
            "Delete 'Warehouse'",
            {"type": "line.delete", "portal": PORTAL, "data": {}},
            before=ref("Warehouse", "Delete"),
            expect={"line.deleted"},
        ),
    ]

    async def drift_then_ref(tour: Tour) -> None:
        await drift(tour)
        step = steps[3]
        assert step.command is not None
        step.command["data"]["config_id"] = tour.lines["Head office"]

    steps[3].before = drift_then_ref
    return steps
