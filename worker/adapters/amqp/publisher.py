"""Confirmed publishing: every publish waits for the broker's ack and is ``mandatory``.

A publish that the broker nacks or cannot route raises; the caller (the processor) then
leaves the command unacknowledged, so it is delivered again rather than lost.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from datetime import UTC, datetime
from typing import Any

import aiormq.abc
import aiormq.exceptions
from aio_pika import DeliveryMode, Exchange, Message
from aio_pika.abc import AbstractExchange, AbstractIncomingMessage, HeadersType

from contracts import CONTENT_TYPE, Envelope

APP_ID = "sipline"
SHORTSTR_BYTES = 255  # AMQP short strings (message-id, correlation-id, type) are ≤ 255 bytes
_ALWAYS_FITS = SHORTSTR_BYTES // 4  # characters: UTF-8 takes at most 4 bytes for one


def _property(value: str | None) -> str | None:
    """``value`` as an AMQP short-string property, or None when it cannot be one.

    The envelope (the body) is the source of truth and keeps the full value; the property
    only mirrors it. A contract-valid ``correlationid`` of 128 non-ASCII characters is up to
    512 bytes, which no broker accepts: encoding it would fail every publish of the outcome.
    """
    if value is None or len(value) <= _ALWAYS_FITS:  # the usual case: nothing to encode
        return value
    return value if len(value.encode("utf-8")) <= SHORTSTR_BYTES else None


def envelope_message(envelope: Envelope[Any], *, headers: HeadersType | None = None) -> Message:
    """An AMQP message whose properties mirror the CloudEvents envelope."""
    timestamp = envelope.time or datetime.now(UTC)
    return Message(
        body=envelope.wire_json(),
        content_type=CONTENT_TYPE,
        # the id and the type always fit (an id is ≤ 128 printable ASCII characters, a type
        # one of the models' literals); a correlation id may not
        message_id=envelope.id,
        correlation_id=_property(envelope.correlationid),
        type=envelope.MESSAGE_TYPE,
        timestamp=timestamp,
        delivery_mode=DeliveryMode.PERSISTENT,
        app_id=APP_ID,
        headers=dict(headers) if headers else {},
    )


def copy_message(incoming: AbstractIncomingMessage, *, headers: Mapping[str, Any]) -> Message:
    """A copy of a delivery (same body and properties) with a new set of headers."""
    return Message(
        body=incoming.body,
        content_type=incoming.content_type,
        content_encoding=incoming.content_encoding,
        message_id=incoming.message_id,
        correlation_id=incoming.correlation_id,
        type=incoming.type,
        timestamp=incoming.timestamp,
        app_id=incoming.app_id,
        user_id=None,
        reply_to=incoming.reply_to,
        priority=incoming.priority,
        delivery_mode=DeliveryMode.PERSISTENT,
        headers=dict(headers),
    )


class _Route:
    """An exchange to publish to, and the client channel under it when last seen open."""

    __slots__ = ("channel", "name", "owner")

    def __init__(self, exchange: AbstractExchange) -> None:
        if not isinstance(exchange, Exchange):
            raise TypeError(f"not an aio-pika exchange: {exchange!r}")
        self.name = exchange.name
        self.owner = exchange.channel  # aio-pika's (robust) channel
        self.channel: aiormq.abc.AbstractChannel | None = None  # the client channel under it


class Publisher:
    """Publishes to the declared exchanges with confirms and ``mandatory``.

    Each method returns the publish to be awaited (``await publisher.event(e)``) instead of
    awaiting it itself: one coroutine frame fewer for every resumption of the publish and
    its confirm, on every delivery. The publish goes to the client channel under the
    exchange's (robust) channel, kept from one publish to the next: aio-pika's
    ``Exchange.publish`` would look it up on every publish, through a wait for the robust
    connection to be ready. Once the channel kept has closed (the connection was lost), the
    next publish asks the robust channel for the current one, which waits for the
    reconnection as ``Exchange.publish`` does; a publish under way when the connection
    goes fails, as it would there.

    How long a publish waits for its confirm is bounded by the caller, once for all the
    publishes of a delivery's outcome (``worker.runtime.finish``)."""

    def __init__(
        self,
        *,
        events: AbstractExchange,
        delay: AbstractExchange,
        dead_letters: AbstractExchange,
    ) -> None:
        self._events = _Route(events)
        self._delay = _Route(delay)
        self._dead_letters = _Route(dead_letters)

    def event(self, message: Message, *, routing_key: str) -> Awaitable[Any]:
        """Publish an event's message (see :func:`envelope_message`)."""
        return _publish(self._events, message, routing_key)

    def delayed(self, message: Message, *, routing_key: str) -> Awaitable[Any]:
        """Publish to a delay tier (the tier header is already on the message)."""
        return _publish(self._delay, message, routing_key)

    def dead_letter(self, message: Message, *, routing_key: str) -> Awaitable[Any]:
        return _publish(self._dead_letters, message, routing_key)


def _publish(route: _Route, message: Message, routing_key: str) -> Awaitable[Any]:
    channel = route.channel
    if channel is None or channel.is_closed:
        return _reopened(route, message, routing_key)
    return _send(channel, route, message, routing_key)


async def _reopened(route: _Route, message: Message, routing_key: str) -> Any:
    """The publish after a (re)connection: the robust channel's current client channel,
    waited for as ``Exchange.publish`` waits for it."""
    if route.owner.is_closed:  # closed on purpose, not lost: no reconnection will come
        raise aiormq.exceptions.ChannelInvalidStateError(f"{route.owner!r} closed")
    route.channel = await route.owner.get_underlay_channel()
    return await _send(route.channel, route, message, routing_key)


def _send(
    channel: aiormq.abc.AbstractChannel, route: _Route, message: Message, routing_key: str
) -> Awaitable[Any]:
    """The confirmed, ``mandatory`` publish itself, as ``Exchange.publish`` makes it."""
    return channel.basic_publish(
        message.body,
        exchange=route.name,
        routing_key=routing_key,
        properties=message.properties,
        mandatory=True,
    )


def event_type(envelope: Envelope[Any]) -> str:
    """The ``type`` attribute (the routing key) of a command or event."""
    value = getattr(envelope, "type", None)
    if not isinstance(value, str) or not value:
        raise TypeError(f"{type(envelope).__name__} has no type")
    return value
