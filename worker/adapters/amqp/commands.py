"""Publishing commands from inside the worker (an inbound callback becoming a command).

Commands go to ``<prefix>.commands`` like any publisher's, as :func:`envelope_message`
renders them, ``mandatory`` and confirmed. The publisher has its own channel on the
process's robust connection (the consumer's channel keeps its own confirms), opened at the
first publish and again after the broker closed it. A publish that is not confirmed within
``timeout`` seconds (the broker away, the channel closed, a nack, unroutable) raises
:class:`CommandNotPublished`.
"""

from __future__ import annotations

import asyncio
import contextlib

import aiormq.exceptions
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractRobustConnection

from contracts import Command
from worker.adapters.amqp.publisher import envelope_message, event_type
from worker.errors import TransientError


class CommandNotPublished(TransientError):
    """The broker did not confirm a command in time; nothing is known to be queued."""

    code = "COMMAND_NOT_PUBLISHED"


class CommandPublisher:
    """Confirmed publishes to the commands exchange; ``close`` twice is harmless."""

    def __init__(
        self, *, connection: AbstractRobustConnection, exchange: str, timeout: float = 5.0
    ) -> None:
        self._connection = connection
        self._exchange_name = exchange
        self._timeout = timeout
        self._channel: AbstractChannel | None = None
        self._exchange: AbstractExchange | None = None
        self._lock = asyncio.Lock()

    async def publish(self, command: Command) -> None:
        try:
            async with asyncio.timeout(self._timeout):
                exchange = await self._ready()
                await exchange.publish(
                    envelope_message(command),
                    routing_key=event_type(command),
                    mandatory=True,
                    timeout=self._timeout,
                )
        except TimeoutError:
            raise CommandNotPublished(
                f"no confirm within {self._timeout:g} s", code="CONFIRM_TIMEOUT"
            ) from None
        except (aiormq.exceptions.AMQPError, RuntimeError, OSError) as exc:
            # RuntimeError: aiormq's ChannelInvalidStateError (the connection is away); a
            # robust channel comes back with the connection, a closed one is opened again
            raise CommandNotPublished(type(exc).__name__, code=type(exc).__name__) from None

    async def _ready(self) -> AbstractExchange:
        async with self._lock:
            if self._channel is None or self._channel.is_closed or self._exchange is None:
                self._channel = await self._connection.channel(
                    publisher_confirms=True, on_return_raises=True
                )
                self._exchange = await self._channel.get_exchange(self._exchange_name)
            return self._exchange

    async def close(self) -> None:
        async with self._lock:
            channel, self._channel, self._exchange = self._channel, None, None
        if channel is not None and not channel.is_closed:
            # the connection may be going or gone: then there is nothing left to close
            with contextlib.suppress(
                aiormq.exceptions.AMQPError, RuntimeError, OSError, TimeoutError
            ):
                await asyncio.wait_for(channel.close(), timeout=1.0)
