"""Where copies go: an exchange, published to with confirms and ``mandatory``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from aio_pika import DeliveryMode, Message
from aio_pika.abc import AbstractExchange

from worker.ops.dlq.model import Raw
from worker.ops.dlq.wire import wire_value


class Sink(Protocol):
    """Publishes one message and returns only once the broker has confirmed it."""

    async def publish(self, message: Message, *, routing_key: str) -> None:
        """Raise if the broker nacks it, cannot route it, or does not answer in time."""


class ConfirmedExchange:
    """A :class:`Sink` over an exchange on a channel with publisher confirms."""

    def __init__(self, *, exchange: AbstractExchange, timeout: float = 30.0) -> None:
        self._exchange = exchange
        self._timeout = timeout

    async def publish(self, message: Message, *, routing_key: str) -> None:
        await self._exchange.publish(
            message, routing_key=routing_key, mandatory=True, timeout=self._timeout
        )


def message_from(raw: Raw, *, headers: Mapping[str, Any]) -> Message:
    """The message with its body and properties, and the headers given (ready for the wire)."""
    props = raw.properties
    return Message(
        body=raw.body,
        content_type=props.content_type,
        content_encoding=props.content_encoding,
        message_id=props.message_id,
        correlation_id=props.correlation_id,
        type=props.type,
        timestamp=props.timestamp,
        app_id=props.app_id,
        reply_to=props.reply_to,
        priority=props.priority,
        delivery_mode=DeliveryMode.PERSISTENT if props.persistent else DeliveryMode.NOT_PERSISTENT,
        headers=wire_value(dict(headers)),
    )
