"""Publish one command for ``sipline send`` and, if asked, follow the events it causes.

The events are tapped by a temporary exclusive queue bound to ``<prefix>.events`` *before*
the command is published, so that not even the quickest event is missed. An event belongs
to the command when its ``causationid`` is the command's id (a deferred re-check keeps the
id of the command that started it). The wait ends at the first final event:
``line.reconciled``, ``line.deleted``, ``line.updated`` without re-registration,
``command.failed`` or ``command.rejected``; for ``portal.sweep`` (whose per-line
``line.reconciled`` events come first) only ``portal.swept`` or a failure.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aio_pika
import click
from aio_pika.abc import AbstractIncomingMessage, AbstractQueue
from aio_pika.exceptions import AMQPError, ChannelNotFoundEntity, DeliveryError

from contracts import Command
from worker.adapters.amqp.publisher import envelope_message, event_type
from worker.adapters.amqp.topology import Names
from worker.cli.common import fail
from worker.settings import Settings

__all__ = ["FINAL_EVENTS", "is_final", "publish"]

FINAL_EVENTS = frozenset(
    {"line.reconciled", "line.deleted", "portal.swept", "command.failed", "command.rejected"}
)
CONNECT_TIMEOUT = 10.0
CONFIRM_TIMEOUT = 30.0


def is_final(event: dict[str, Any], command_type: str) -> bool:
    """Whether no more events will follow ``event`` for a command of ``command_type``."""
    kind = event.get("type")
    if kind in ("command.failed", "command.rejected"):
        return True
    if command_type == "portal.sweep":  # its per-line line.reconciled come first
        return kind == "portal.swept"
    if kind == "line.updated":
        data = event.get("data")
        return not (isinstance(data, dict) and data.get("reregistration"))
    return kind in FINAL_EVENTS


def publish(
    settings: Settings, command: Command, *, prefix: str, wait: bool, timeout: float
) -> int:
    """Publish ``command``; print its id, then (``wait``) its events. Returns the exit code."""
    try:
        work = _publish(settings, command, Names(prefix), wait=wait, wait_seconds=timeout)
        return asyncio.run(work)
    except ChannelNotFoundEntity as exc:
        missing = exc.args[-1] if exc.args else exc
        fail(f"{missing}: is a worker running with the prefix {prefix!r}?", code=1)
    except DeliveryError:
        fail("the broker did not accept the command (unroutable or refused)", 1)
    except (AMQPError, OSError) as exc:
        fail(f"cannot publish: {type(exc).__name__}: {exc}", 1)


async def _publish(
    settings: Settings, command: Command, names: Names, *, wait: bool, wait_seconds: float
) -> int:
    connection = await aio_pika.connect(
        settings.amqp_url.get_secret_value(), timeout=CONNECT_TIMEOUT
    )
    async with connection:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        commands = await channel.get_exchange(names.commands_exchange, ensure=True)
        tap: AbstractQueue | None = None
        if wait:
            events = await channel.get_exchange(names.events_exchange, ensure=True)
            tap = await channel.declare_queue(exclusive=True, auto_delete=True)
            await tap.bind(events, routing_key="#")
        await commands.publish(
            envelope_message(command),
            routing_key=event_type(command),
            mandatory=True,
            timeout=CONFIRM_TIMEOUT,
        )
        click.echo(command.id)
        if tap is None:
            return 0
        return await _follow(tap, command, wait_seconds)


async def _follow(tap: AbstractQueue, command: Command, wait_seconds: float) -> int:
    arrived: asyncio.Queue[bytes] = asyncio.Queue()

    async def collect(message: AbstractIncomingMessage) -> None:
        arrived.put_nowait(message.body)

    await tap.consume(collect, no_ack=True)
    kind = event_type(command)
    try:
        async with asyncio.timeout(wait_seconds):
            while True:
                event = _event(await arrived.get())
                if event is None or event.get("causationid") != command.id:
                    continue
                click.echo(json.dumps(event, separators=(",", ":"), ensure_ascii=False))
                if is_final(event, kind):
                    return 0
    except TimeoutError:
        click.secho(
            f"sipline: no final event for {command.id} within {wait_seconds:g} s",
            fg="red",
            err=True,
        )
    return 1


def _event(body: bytes) -> dict[str, Any] | None:
    try:
        event = json.loads(body)
    except ValueError:
        return None
    return event if isinstance(event, dict) else None
