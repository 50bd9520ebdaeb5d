"""Counting what goes in and what comes out.

:class:`Tap` declares the worker's topology and a durable quorum queue bound with ``#`` to
the events exchange BEFORE anything is published, and consumes it and the DLQ into a
:class:`Ledger`. A delivery the broker redelivers to the tap (``redelivered``) after its
first copy was recorded is the tap's own artefact and is skipped; a second copy the worker
*published* is a duplicate and is counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any

import aio_pika
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustConnection

from tests.amqp_helpers import remove_topology
from worker.adapters.amqp.topology import TopologySpec, declare

TERMINAL = frozenset(
    {"line.reconciled", "line.deleted", "portal.swept", "command.failed", "command.rejected"}
)


@dataclass(frozen=True, slots=True)
class Seen:
    """One delivery as recorded: enough to count it and to scan it for secrets."""

    body: bytes
    headers: dict[str, Any]
    message_id: str | None
    redelivered: bool


@dataclass
class Ledger:
    events: list[dict[str, Any]] = field(default_factory=list)
    raw_events: list[bytes] = field(default_factory=list)
    dead: list[Seen] = field(default_factory=list)
    tap_redeliveries: int = 0
    _event_ids: set[str] = field(default_factory=set)
    _dead_keys: set[tuple[bytes, str | None, str]] = field(default_factory=set)

    async def on_event(self, message: AbstractIncomingMessage) -> None:
        event = json.loads(message.body)
        if message.redelivered and event["id"] in self._event_ids:
            self.tap_redeliveries += 1
        else:
            self._event_ids.add(event["id"])
            self.events.append(event)
            self.raw_events.append(message.body)
        await message.ack()

    async def on_dead(self, message: AbstractIncomingMessage) -> None:
        headers = dict(message.headers or {})
        key = (message.body, message.message_id, str(headers.get("x-sipline-last-failure")))
        if message.redelivered and key in self._dead_keys:
            self.tap_redeliveries += 1
        else:
            self._dead_keys.add(key)
            self.dead.append(Seen(message.body, headers, message.message_id, message.redelivered))
        await message.ack()

    # --- accounting ---------------------------------------------------------------------
    def terminal_ids(self) -> dict[str, set[str]]:
        """Command id → the distinct ids of its terminal events."""
        found: dict[str, set[str]] = defaultdict(set)
        for event in self.events:
            if event["type"] in TERMINAL and event.get("causationid"):
                found[event["causationid"]].add(event["id"])
        return found

    def terminal_outcomes(self) -> dict[str, set[tuple[str, str | None]]]:
        """Command id → its distinct terminal outcomes, as (event type, subject)."""
        found: dict[str, set[tuple[str, str | None]]] = defaultdict(set)
        for event in self.events:
            if event["type"] in TERMINAL and event.get("causationid"):
                found[event["causationid"]].add((event["type"], event.get("subject")))
        return found

    def explain(self, ids: Iterable[str], limit: int = 3) -> str:
        """The events of a few commands, for an assertion message."""
        wanted = list(ids)[:limit]
        lines = [f"{len(list(ids))} commands, e.g.:"]
        for cid in wanted:
            for e in self.events:
                if e.get("causationid") == cid:
                    data = e.get("data") or {}
                    lines.append(
                        f"  {cid} {e['type']} id={e['id']} subject={e.get('subject')} "
                        f"verdict={data.get('verdict')} attempts={data.get('attempts')} "
                        f"already_existed={data.get('already_existed')}"
                    )
        return "\n".join(lines)

    def completed(self, ids: Iterable[str]) -> int:
        terminal = self.terminal_ids()
        return sum(1 for cid in ids if cid in terminal)

    def tally(self, ids: Iterable[str]) -> Tally:
        wanted = list(ids)
        wanted_set = set(wanted)
        copies = Counter(e["id"] for e in self.events)
        duplicated_by_command: Counter[str] = Counter()
        by_type: Counter[str] = Counter()
        for event in self.events:
            by_type[event["type"]] += 1
        seen: set[str] = set()
        for event in self.events:
            if event["id"] in seen:
                duplicated_by_command[str(event.get("causationid"))] += 1
            seen.add(event["id"])
        terminal = self.terminal_ids()
        outcomes = self.terminal_outcomes()
        return Tally(
            commands_in=len(wanted),
            with_outcome=sum(1 for cid in wanted_set if terminal.get(cid)),
            missing=sorted(cid for cid in wanted_set if not terminal.get(cid)),
            several_outcomes=sorted(cid for cid in wanted_set if len(outcomes.get(cid, ())) > 1),
            split_ids=sorted(
                cid for cid in wanted_set if len(terminal.get(cid, ())) > len(outcomes.get(cid, ()))
            ),
            events_out=len(self.events),
            distinct_events=len(copies),
            duplicate_events=sum(n - 1 for n in copies.values()),
            commands_with_duplicates=sum(1 for cid in duplicated_by_command if cid in wanted_set),
            dead_letters=len(self.dead),
            by_type=dict(sorted(by_type.items())),
            tap_redeliveries=self.tap_redeliveries,
        )


@dataclass(frozen=True, slots=True)
class Tally:
    commands_in: int
    with_outcome: int
    missing: list[str]
    several_outcomes: list[str]
    split_ids: list[str]
    events_out: int
    distinct_events: int
    duplicate_events: int
    commands_with_duplicates: int
    dead_letters: int
    by_type: dict[str, int]
    tap_redeliveries: int

    def figures(self) -> dict[str, Any]:
        return {
            "commands in": self.commands_in,
            "commands with a terminal outcome": self.with_outcome,
            "events out (copies)": self.events_out,
            "distinct events": self.distinct_events,
            "duplicate event copies (same id)": self.duplicate_events,
            "commands with duplicates": self.commands_with_duplicates,
            "one outcome under two event ids": len(self.split_ids),
            "dead letters": self.dead_letters,
            "events by type": self.by_type,
        }


@dataclass
class Tap:
    connection: AbstractRobustConnection
    channel: aio_pika.abc.AbstractChannel
    spec: TopologySpec
    ledger: Ledger
    publish_retries: int = 0

    async def publish(
        self,
        body: bytes,
        *,
        routing_key: str,
        content_type: str | None = "application/cloudevents+json",
        message_id: str | None = None,
        headers: dict[str, Any] | None = None,
        persistent: bool = True,
        retry_for: float = 0.0,
    ) -> None:
        """Publish with a confirm; while ``retry_for`` seconds last, retry on any failure."""
        message = aio_pika.Message(
            body,
            content_type=content_type,
            message_id=message_id,
            headers=headers or {},
            delivery_mode=(
                aio_pika.DeliveryMode.PERSISTENT
                if persistent
                else aio_pika.DeliveryMode.NOT_PERSISTENT
            ),
        )
        deadline = time.monotonic() + retry_for
        while True:
            try:
                exchange = await self.channel.get_exchange(
                    self.spec.names.commands_exchange, ensure=False
                )
                await exchange.publish(message, routing_key=routing_key, timeout=10)
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise
                self.publish_retries += 1
                await asyncio.sleep(0.5)

    async def publish_json(self, command: dict[str, Any], **kw: Any) -> None:
        await self.publish(
            json.dumps(command).encode(),
            routing_key=command["type"],
            message_id=command["id"],
            **kw,
        )

    async def publish_many(self, commands: list[dict[str, Any]], *, window: int = 200) -> None:
        """Publish with confirms, ``window`` in flight at a time (quorum queues fsync)."""
        for start in range(0, len(commands), window):
            await asyncio.gather(*(self.publish_json(c) for c in commands[start : start + window]))


@contextlib.asynccontextmanager
async def tap(
    amqp_url: str, spec: TopologySpec, *, keep_dead_letters: bool = False
) -> AsyncIterator[Tap]:
    """Declare the topology and the taps; on the way out delete all of it.

    ``keep_dead_letters``: the dead letters are recorded from a copy (a queue of the tap's
    own on the dead-letter exchange) and stay in the DLQ, for a ``sipline dlq replay``."""
    connection = await aio_pika.connect_robust(amqp_url)
    try:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        declared = await declare(channel, spec)
        ledger = Ledger()
        consume = await connection.channel()
        await consume.set_qos(prefetch_count=500)
        events = await consume.declare_queue(
            f"{spec.names.prefix}.tap", durable=True, arguments={"x-queue-type": "quorum"}
        )
        await events.bind(declared.events_exchange, routing_key="#")
        await events.consume(ledger.on_event)
        if keep_dead_letters:
            dlq = await consume.declare_queue(
                f"{spec.names.prefix}.dlq-tap", durable=True, arguments={"x-queue-type": "quorum"}
            )
            await dlq.bind(declared.dead_letter_exchange, routing_key="#")
        else:
            dlq = await consume.get_queue(spec.names.dead_letter_queue)
        await dlq.consume(ledger.on_dead)
        yield Tap(connection=connection, channel=channel, spec=spec, ledger=ledger)
    finally:
        await connection.close()
        own = [f"{spec.names.prefix}.tap"]
        if keep_dead_letters:
            own.append(f"{spec.names.prefix}.dlq-tap")
        with contextlib.suppress(Exception):
            await remove_topology(amqp_url, spec, queues=own)
