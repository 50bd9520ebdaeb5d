"""The projection against the real broker (an event log stream per test) and both stores."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aio_pika
import pytest

from contracts.events import Event
from tests.amqp_helpers import Broker, broker, spec_for, unique_prefix
from tests.projection.events import wire
from tests.store.conftest import Backend, backend, store  # noqa: F401


@pytest.fixture
async def log_broker() -> AsyncIterator[Broker]:
    prefix = unique_prefix("proj")
    async with broker(prefix, spec_for(prefix)) as b:
        yield b


async def publish(b: Broker, *events: Event | bytes) -> None:
    """Put events on the events exchange, as the worker does (raw bytes for odd bodies)."""
    exchange = await b.channel.get_exchange(b.spec.names.events_exchange)
    for event in events:
        body = event if isinstance(event, bytes) else wire(event)
        key = "odd" if isinstance(event, bytes) else event.MESSAGE_TYPE
        await exchange.publish(aio_pika.Message(body), routing_key=key)
