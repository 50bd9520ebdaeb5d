"""Who is in the fleet: heartbeats on a fanout exchange, no coordinator.

Every process binds its own exclusive, auto-delete queue to ``<p>.fleet`` and publishes a
beat there every ``interval`` seconds: its member id and the shards it holds. A member is
live while its last beat is at most ``interval * missed`` seconds old; a process that stops
cleanly says so in a last beat and is dropped at once. Every process therefore sees the
same live set within one beat, and computes the same assignment from it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from aio_pika import DeliveryMode, Message
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractIncomingMessage

log = logging.getLogger(__name__)

CONTENT_TYPE = "application/json"


@dataclass(frozen=True, slots=True)
class Beat:
    member: str
    shards: tuple[int, ...]
    leaving: bool
    portals: str = ""  # the digest of the portals it weighs shards by ("": none)

    def encode(self) -> bytes:
        return json.dumps(
            {
                "member": self.member,
                "shards": list(self.shards),
                "leaving": self.leaving,
                "portals": self.portals,
            }
        ).encode()

    @classmethod
    def decode(cls, body: bytes) -> Beat | None:
        try:
            value = json.loads(body)
            member = value["member"]
            shards = tuple(int(s) for s in value.get("shards", ()))
            leaving = bool(value.get("leaving", False))
            portals = value.get("portals", "")
        except (ValueError, KeyError, TypeError, AttributeError):
            return None
        if not isinstance(member, str) or not member or not isinstance(portals, str):
            return None
        return cls(member=member, shards=shards, leaving=leaving, portals=portals)


class Membership:
    """Publishes this process's beats and tracks everyone else's."""

    def __init__(
        self,
        *,
        connection: AbstractConnection,
        exchange: str,
        member: str,
        held: Callable[[], Iterable[int]],
        portals: Callable[[], str] = str,
        interval: float = 2.0,
        missed: int = 3,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._connection = connection
        self._exchange_name = exchange
        self.member = member
        self._held = held
        self._portals = portals
        self._interval = interval
        self._expiry = interval * missed
        self._clock = clock
        self._seen: dict[str, float] = {}
        self._holding: dict[str, tuple[int, ...]] = {}
        self._weighing: dict[str, str] = {}
        self._channel: AbstractChannel | None = None
        self.changed = asyncio.Event()
        self._last_live: frozenset[str] = frozenset({member})

    def live(self) -> frozenset[str]:
        now = self._clock()
        members = {m for m, seen in self._seen.items() if now - seen <= self._expiry}
        members.add(self.member)
        return frozenset(members)

    def holding(self) -> dict[str, tuple[int, ...]]:
        """The shards each live member said it held in its last beat."""
        live = self.live()
        return {m: shards for m, shards in self._holding.items() if m in live}

    def weighing(self) -> dict[str, str]:
        """The portals digest each live member, this one included, said it weighs by."""
        live = self.live()
        found = {m: digest for m, digest in self._weighing.items() if m in live}
        found[self.member] = self._portals()
        return found

    async def start(self) -> None:
        channel = await self._connection.channel(publisher_confirms=False)
        self._channel = channel
        exchange = await channel.get_exchange(self._exchange_name, ensure=False)
        queue = await channel.declare_queue(
            "", exclusive=True, auto_delete=True, arguments={"x-queue-type": "classic"}
        )
        await queue.bind(exchange)
        await queue.consume(self._on_beat, no_ack=True)
        await self.beat()

    async def run(self) -> None:
        """Beat every interval and notice expiries; returns only when cancelled."""
        while True:
            await asyncio.sleep(self._interval)
            await self.beat()
            self._check()

    async def beat(self, *, leaving: bool = False) -> None:
        if self._channel is None or self._channel.is_closed:
            raise ConnectionError("the membership channel is closed")
        exchange = await self._channel.get_exchange(self._exchange_name, ensure=False)
        beat = Beat(
            member=self.member,
            shards=tuple(sorted(self._held())),
            leaving=leaving,
            portals=self._portals(),
        )
        await exchange.publish(
            Message(
                beat.encode(),
                content_type=CONTENT_TYPE,
                delivery_mode=DeliveryMode.NOT_PERSISTENT,
                expiration=self._expiry,
            ),
            routing_key="",
        )

    async def stop(self) -> None:
        """Say goodbye so the others take over at once, then close the channel."""
        channel, self._channel = self._channel, None
        if channel is None or channel.is_closed:
            return
        with contextlib.suppress(Exception):
            self._channel = channel
            await self.beat(leaving=True)
        self._channel = None
        with contextlib.suppress(Exception):
            await channel.close()

    async def _on_beat(self, message: AbstractIncomingMessage) -> None:
        beat = Beat.decode(message.body)
        if beat is None or beat.member == self.member:
            return
        if beat.leaving:
            self._seen.pop(beat.member, None)
            self._holding.pop(beat.member, None)
            self._weighing.pop(beat.member, None)
        else:
            self._seen[beat.member] = self._clock()
            self._holding[beat.member] = beat.shards
            if self._weighing.get(beat.member, beat.portals) != beat.portals:
                self.changed.set()  # the assignment may change with it
            self._weighing[beat.member] = beat.portals
        self._check()

    def _check(self) -> None:
        live = self.live()
        for member in [m for m in self._seen if m not in live]:
            del self._seen[member]
            self._holding.pop(member, None)
            self._weighing.pop(member, None)
        if live != self._last_live:
            log.info(
                "fleet membership changed",
                extra={"members": sorted(live), "joined": sorted(live - self._last_live)},
            )
            self._last_live = live
            self.changed.set()
