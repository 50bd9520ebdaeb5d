"""A fleet of members in one event loop, each on its own broker connection.

Each member is what one process runs (its own connection, channels, router and consumers);
the broker cannot tell them from separate processes. The handler records, for every command,
which member ran it and when, so a test can check that two members never worked on one
shard at the same time and that every line's commands ran in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aio_pika
import pytest
from aio_pika.abc import AbstractChannel, AbstractConnection

from contracts import Bitrix24Side, LineReconciledData, Verdict, VoximplantSide
from tests.amqp_helpers import AMQP_URL, Broker, broker, spec_for, unique_prefix, wait_for
from worker import __version__
from worker.adapters.amqp.publisher import Publisher
from worker.adapters.amqp.topology import Declared, TopologySpec
from worker.errors import TransientError
from worker.fleet.member import FleetConfig, FleetMember
from worker.fleet.observer import FleetObserver
from worker.fleet.router import Router, RouterConfig
from worker.fleet.shards import shard_of
from worker.fleet.topology import FleetNames, FleetSpec, declare_fleet, delete_fleet
from worker.runtime.handler import CommandContext, EventDraft, Outcome
from worker.runtime.policy import RetryPolicy
from worker.runtime.processor import Processor, ProcessorConfig
from worker.runtime.service import MessageCallback

SHARDS = 8


@dataclass
class Ledger:
    """What every member did, in the order it happened."""

    shards: int
    delay: float = 0.0
    running: dict[int, dict[str, int]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(int))
    )
    overlaps: list[tuple[int, str, str]] = field(default_factory=list)
    done: list[tuple[str, str, int, int]] = field(default_factory=list)  # member, portal, line, seq
    runs: int = 0
    killed: set[str] = field(default_factory=set)
    fail_first: set[str] = field(default_factory=set)  # command ids that fail transiently once

    def handler(self, member: str) -> Any:
        async def handle(command: Any, context: CommandContext) -> Outcome:
            shard = shard_of(command.portal, self.shards)
            others = [m for m, n in self.running[shard].items() if n and m != member]
            for other in others:
                self.overlaps.append((shard, member, other))
            self.running[shard][member] += 1
            self.runs += 1
            try:
                await asyncio.sleep(self.delay)
            finally:
                self.running[shard][member] -= 1
            if member in self.killed:
                raise asyncio.CancelledError  # a dead process records nothing more
            if command.id in self.fail_first:
                self.fail_first.discard(command.id)
                raise TransientError("portal unavailable", code="INTERNAL_SERVER_ERROR")
            seq = int(command.id.rsplit("-", 1)[1])
            self.done.append((member, command.portal, command.data.config_id, seq))
            data = LineReconciledData(
                config_id=command.data.config_id,
                verdict=Verdict.IN_SYNC,
                bitrix24=Bitrix24Side(status_result="success"),
                voximplant=VoximplantSide(found=True, successful=True),
                attempts=context.attempt,
            )
            return Outcome(events=[EventDraft(data, subject=f"lines/{command.data.config_id}")])

        return handle

    def sequences(self) -> dict[tuple[str, int], list[int]]:
        by_line: dict[tuple[str, int], list[int]] = defaultdict(list)
        for _, portal, line, seq in self.done:
            by_line[(portal, line)].append(seq)
        return by_line

    def portals_by_member(self) -> dict[str, set[str]]:
        result: dict[str, set[str]] = defaultdict(set)
        for member, portal, _, _ in self.done:
            result[member].add(portal)
        return result


@dataclass
class Fleet:
    broker: Broker
    spec: TopologySpec
    fleet: FleetSpec
    ledger: Ledger
    members: dict[str, tuple[FleetMember, asyncio.Task[None]]] = field(default_factory=dict)

    def factory(self, tag: str) -> Any:
        def build(publisher: Publisher, declared: Declared) -> MessageCallback:
            return Processor(
                publisher=publisher,
                handlers={"line.reconcile": self.ledger.handler(tag)},
                policy=RetryPolicy(delays=(0.2,), max_attempts=3),
                topology=self.spec,
                config=ProcessorConfig(
                    max_body_bytes=65536,
                    version=__version__,
                    commands_exchange=self.spec.names.commands_exchange,
                ),
            )

        return build

    async def start(
        self, tag: str, *, prefetch: int = 8, portals: list[str] | None = None
    ) -> FleetMember:
        member = self.member(tag, prefetch=prefetch, portals=portals)
        task = asyncio.create_task(member.run())
        self.members[tag] = (member, task)
        ready = asyncio.create_task(member.ready.wait())
        done, _ = await asyncio.wait({task, ready}, timeout=20, return_when="FIRST_COMPLETED")
        if task in done:
            task.result()
        assert ready in done, f"member {tag} did not become ready"
        return member

    def member(
        self,
        tag: str,
        *,
        url: str = AMQP_URL,
        prefetch: int = 8,
        portals: list[str] | None = None,
    ) -> FleetMember:
        """A member as one process would run it (fast beats, so tests converge quickly)."""
        return FleetMember(
            config=FleetConfig(
                amqp_url=url,
                prefetch=prefetch,
                shutdown_grace=10.0,
                max_body_bytes=65536,
                connect_timeout=10.0,
                beat_interval=0.3,
                missed_beats=3,
                amqp_heartbeat=2,
                tick=0.1,
                member_id=tag,
            ),
            topology=self.spec,
            fleet=self.fleet,
            processor_factory=self.factory(tag),
            portals=None if portals is None else (lambda: portals),
        )

    @contextlib.asynccontextmanager
    async def router(
        self, connection: AbstractConnection, observer: FleetObserver | None = None
    ) -> AsyncIterator[Router]:
        """A router alone on ``connection`` (the fleet declared), stopped on the way out."""
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)

        async def open_channel() -> AbstractChannel:
            return await connection.channel()

        await declare_fleet(channel, open_channel, self.fleet)
        names = self.spec.names
        publisher = Publisher(
            events=await channel.get_exchange(names.events_exchange),
            delay=await channel.get_exchange(names.delay_exchange),
            dead_letters=await channel.get_exchange(names.dead_letter_exchange),
        )
        router = Router(
            connection=connection,
            spec=self.fleet,
            reject=self.factory("router")(publisher, None),
            config=RouterConfig(prefetch=256, retry_pause=0.2),
            observer=observer,
        )
        task = asyncio.create_task(router.run())
        try:
            yield router
        finally:
            router.stop()
            await asyncio.wait_for(task, 20)

    async def stop(self, tag: str) -> None:
        member, task = self.members.pop(tag)
        member.stop()
        await asyncio.wait_for(task, timeout=30)

    async def converged(self, limit: float = 20.0) -> None:
        """Every running member sees all the others and holds exactly its share."""
        from worker.fleet.shards import assign

        tags = set(self.members)

        def ok() -> bool:
            expected = assign(self.fleet.shards, tags)
            return all(
                m.members() == tags and m.held == expected[t] for t, (m, _) in self.members.items()
            )

        await wait_for(ok, limit, "the fleet to converge")

    async def publish_lines(
        self, portals: list[str], lines: int, rounds: int, *, start: int = 0
    ) -> int:
        """``rounds`` commands per line, interleaved; command ids end in the sequence number."""
        sent = 0
        for seq in range(start, start + rounds):
            for portal in portals:
                for line in range(1, lines + 1):
                    body = {
                        "specversion": "1.0",
                        "id": f"{portal}-{line}-{seq}",
                        "type": "line.reconcile",
                        "source": "urn:test",
                        "portal": portal,
                        "data": {"config_id": line},
                    }
                    await self.broker.publish(body)
                    sent += 1
        return sent


@pytest.fixture
async def connection() -> AsyncIterator[AbstractConnection]:
    """A broker connection of the test's own."""
    conn = await aio_pika.connect(AMQP_URL)
    try:
        yield conn
    finally:
        await conn.close()


@pytest.fixture
async def fleet() -> AsyncIterator[Fleet]:
    prefix = unique_prefix("fleet")
    spec = dataclasses.replace(spec_for(prefix), single_active_commands=True)
    fleet_spec = FleetSpec(names=FleetNames(prefix), shards=SHARDS, delivery_limit=5)
    async with broker(prefix, spec) as b:
        f = Fleet(broker=b, spec=spec, fleet=fleet_spec, ledger=Ledger(shards=SHARDS))
        try:
            yield f
        finally:
            for tag in list(f.members):
                with contextlib.suppress(Exception):
                    await f.stop(tag)
    connection = await aio_pika.connect(AMQP_URL)
    try:
        await delete_fleet(await connection.channel(), fleet_spec.names, SHARDS)
    finally:
        await connection.close()
