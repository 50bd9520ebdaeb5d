"""The runtime's own work per command, counted: Python calls, sipline against a bare loop.

A deterministic companion to ``runtime_throughput`` (whose timings a loaded machine
scatters): the same commands go through sipline's ``Processor`` and through the bare loop's
body (validate, build the event, publish, ack), with the broker replaced by a client channel
that confirms every publish at once. Two counts per command do not depend on the machine's
load: Python calls (``cProfile``) and Python bytecodes executed (a ``sys.settrace`` opcode
trace; the work done in C, such as pydantic's validation, is not in it). The CPU time
printed beside them does depend on the load.

    .venv/bin/python -m benchmarks.runtime_calls [--commands N]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from types import FrameType
from typing import Any

import aio_pika

from benchmarks.runtime_throughput import Noop, bare_event, settings_for
from contracts import CONTENT_TYPE, LineReconcile
from worker.adapters.amqp.publisher import Publisher
from worker.runtime.policy import RetryPolicy
from worker.runtime.processor import Processor, ProcessorConfig
from worker.runtime.wiring import topology_spec


class Delivery:
    """What both sides read of a delivery, and its ack."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.headers: dict[str, Any] = {}
        self.routing_key = "line.reconcile"
        self.content_type = CONTENT_TYPE
        self.redelivered = False
        self.message_id = None
        self.correlation_id = None

    async def ack(self) -> None:
        return None

    async def nack(self, requeue: bool = True) -> None:
        return None


class ClientChannel:
    """The client channel under the exchange: confirms every publish at once (the broker's
    part is not counted)."""

    is_closed = False

    async def basic_publish(self, body: bytes, **kw: Any) -> None:
        return None


class Channel:
    """The (robust) channel the exchange belongs to."""

    is_closed = False

    def __init__(self) -> None:
        self.client = ClientChannel()

    async def get_underlay_channel(self) -> ClientChannel:
        return self.client


def exchange() -> aio_pika.Exchange:
    """A real aio-pika exchange over :class:`Channel`: both sides publish through it, each its
    own way (aio-pika's ``Exchange.publish``, sipline's ``Publisher``), down to the same
    client channel, message properties built on both."""
    return aio_pika.Exchange(channel=Channel(), name="events")  # type: ignore[arg-type]


def commands(n: int) -> list[bytes]:
    return [
        LineReconcile(
            id=uuid.uuid4().hex,
            type="line.reconcile",
            source="urn:bench",
            portal="example.bitrix24.ru",
            correlationid=f"bench-{i}",
            data={"config_id": i + 1},  # type: ignore[arg-type]
        ).wire_json()
        for i in range(n)
    ]


def sipline_side(n: int) -> Callable[[bytes], Awaitable[None]]:
    spec = topology_spec(settings_for("calls", 16, "amqp://unused"))
    events = exchange()
    processor = Processor(
        publisher=Publisher(events=events, delay=events, dead_letters=events),
        handlers={"line.reconcile": Noop()},
        policy=RetryPolicy(delays=(1.0,), max_attempts=3),
        topology=spec,
        config=ProcessorConfig(max_body_bytes=65536, version="bench", commands_exchange="c"),
    )

    async def one(body: bytes) -> None:
        await processor(Delivery(body))  # type: ignore[arg-type]

    return one


def bare_side(n: int) -> Callable[[bytes], Awaitable[None]]:
    events = exchange()

    async def one(body: bytes) -> None:
        message = Delivery(body)
        command = LineReconcile.model_validate_json(message.body)
        await events.publish(bare_event(command), routing_key="line.reconciled", mandatory=True)
        await message.ack()

    return one


class Opcodes:
    """Counts the Python bytecodes executed while installed with ``sys.settrace``."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, frame: FrameType, event: str, arg: object) -> Callable[..., object]:
        frame.f_trace_opcodes = True
        frame.f_trace_lines = False
        return self._local

    def _local(self, frame: FrameType, event: str, arg: object) -> Callable[..., object]:
        if event == "opcode":
            self.count += 1
        return self._local


async def measure(
    side: Callable[[int], Callable[[bytes], Awaitable[None]]], bodies: list[bytes]
) -> tuple[float, float, float]:
    """Python calls and bytecodes per command, and CPU µs per command (not traced)."""
    one = side(len(bodies))
    for body in bodies[:50]:  # warm-up
        await one(body)
    cpu = time.process_time()
    for body in bodies:
        await one(body)
    cpu = time.process_time() - cpu
    profile = cProfile.Profile()
    profile.enable()
    for body in bodies:
        await one(body)
    profile.disable()
    calls: int = pstats.Stats(profile).total_calls  # type: ignore[attr-defined]
    opcodes = Opcodes()
    sys.settrace(opcodes)
    try:
        for body in bodies:
            await one(body)
    finally:
        sys.settrace(None)
    n = len(bodies)
    return calls / n, opcodes.count / n, cpu / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--commands", type=int, default=5000)
    args = parser.parse_args()
    bodies = commands(args.commands)
    bare_calls, bare_ops, bare_cpu = asyncio.run(measure(bare_side, bodies))
    sip_calls, sip_ops, sip_cpu = asyncio.run(measure(sipline_side, bodies))
    print(
        f"{args.commands} commands, the broker's part left out "
        "(its client channel confirms at once):"
    )
    print("| | bare | sipline | ratio |")
    print("|---|---:|---:|---:|")
    print(
        f"| Python calls per command | {bare_calls:.0f} | {sip_calls:.0f} "
        f"| {sip_calls / bare_calls:.2f} |"
    )
    print(
        f"| Python bytecodes per command | {bare_ops:.0f} | {sip_ops:.0f} "
        f"| {sip_ops / bare_ops:.2f} |"
    )
    print(
        f"| CPU µs per command (load-dependent) | {bare_cpu:.0f} | {sip_cpu:.0f} "
        f"| {sip_cpu / bare_cpu:.2f} |"
    )


if __name__ == "__main__":
    main()
