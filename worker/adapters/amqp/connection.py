"""The process's one robust AMQP connection: opened within a deadline, closed without hanging.

aio-pika's robust connection restores itself after it was once established, but nothing
bounds the *first* connection: a port that accepts TCP and never speaks AMQP keeps the
handshake waiting for ever. :func:`robust_connection` gives the first connection a deadline
(refused connections are retried meanwhile, so that a broker starting next to the worker
is waited for), sorts what goes wrong into what a restart can fix (:class:`BrokerUnreachable`)
and what it cannot (:class:`~worker.errors.ConfigurationError`: credentials, virtual host),
and closes within ``close_timeout`` even when the broker is gone.

No message here quotes the URL: it holds the password.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import unquote, urlsplit

import aio_pika
import aiormq.exceptions
from aio_pika.abc import AbstractConnection, AbstractRobustConnection

from worker.errors import ConfigurationError, SiplineError

log = logging.getLogger(__name__)

C = TypeVar("C", aio_pika.Connection, aio_pika.RobustConnection)

FIRST_PAUSE = 0.5
LONGEST_PAUSE = 5.0


class BrokerUnreachable(SiplineError):
    """No broker connection within the start-up deadline (a restart may well help)."""

    code = "BROKER_UNREACHABLE"


@dataclass(frozen=True, slots=True)
class ConnectionConfig:
    url: str
    name: str
    connect_timeout: float
    close_timeout: float = 5.0
    heartbeat: int | None = None  # seconds; None: the broker's proposal


def _describe(exc: BaseException) -> str:
    """What went wrong, in words that never contain the URL."""
    if isinstance(exc, TimeoutError):
        return "no AMQP answer in time"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return type(exc).__name__


def _refusal(exc: BaseException, url: str) -> ConfigurationError | None:
    """A refusal no retry can cure, as the configuration error it is."""
    if isinstance(
        exc, (aiormq.exceptions.ProbableAuthenticationError, aiormq.exceptions.AuthenticationError)
    ):
        return ConfigurationError(
            "SIPLINE_AMQP_URL: the broker refused the user name or password (ACCESS_REFUSED)"
        )
    if isinstance(exc, aiormq.exceptions.InvalidFrameError) and "Connection.Close" in str(exc):
        # RabbitMQ answers Connection.Open with Connection.Close (530 NOT_ALLOWED) for a
        # virtual host that does not exist or that the user has no access to
        vhost = unquote(urlsplit(url).path[1:]) or "/"
        return ConfigurationError(
            f"SIPLINE_AMQP_URL: the broker refused the virtual host {vhost!r} "
            "(it does not exist, or the user has no access to it)"
        )
    return None


async def _close(connection: AbstractConnection, limit: float) -> None:
    with contextlib.suppress(Exception):
        async with asyncio.timeout(limit):
            await connection.close()


async def open_robust(config: ConnectionConfig) -> AbstractRobustConnection:
    """The first connection, within ``config.connect_timeout`` seconds in all."""
    return await _open(config, aio_pika.RobustConnection)


async def _open(config: ConnectionConfig, kind: type[C]) -> C:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + config.connect_timeout
    pause = FIRST_PAUSE
    attempt = 0
    while True:
        attempt += 1
        url = aio_pika.connection.make_url(config.url)
        if config.heartbeat is not None:
            url = url.update_query(heartbeat=config.heartbeat)
        connection = kind(url, client_properties={"connection_name": config.name})
        try:
            async with asyncio.timeout_at(deadline):
                await connection.connect(timeout=max(0.1, deadline - loop.time()))
        except (OSError, TimeoutError, aiormq.exceptions.AMQPError) as exc:
            await _close(connection, min(1.0, config.close_timeout))  # it never opened
            refusal = _refusal(exc, config.url)
            if refusal is not None:
                raise refusal from None
            left = deadline - loop.time()
            if left <= 0:
                raise BrokerUnreachable(
                    f"no broker connection within {config.connect_timeout:g} s "
                    f"(SIPLINE_CONNECT_TIMEOUT; last: {_describe(exc)})"
                ) from None
            log.warning(
                "broker not reachable yet; retrying",
                extra={"attempt": attempt, "error": _describe(exc), "seconds_left": round(left)},
            )
            await asyncio.sleep(min(pause, left))
            pause = min(pause * 2, LONGEST_PAUSE)
        except BaseException:  # cancelled (a signal), or a bug: leave nothing running
            await _close(connection, min(1.0, config.close_timeout))
            raise
        else:
            return connection


@asynccontextmanager
async def robust_connection(config: ConnectionConfig) -> AsyncIterator[AbstractRobustConnection]:
    """Open (see :func:`open_robust`) and, on the way out, close within ``close_timeout``.

    Closing twice is safe; closing while the broker is away does not wait for it.
    """
    connection = await open_robust(config)
    try:
        yield connection
    finally:
        await _close(connection, config.close_timeout)


@asynccontextmanager
async def plain_connection(config: ConnectionConfig) -> AsyncIterator[AbstractConnection]:
    """Like :func:`robust_connection`, for a connection that must not restore itself: a
    fleet member that lost its connection starts again as a new member rather than resume
    its shards' subscriptions with a view of the fleet that may be stale."""
    connection = await _open(config, aio_pika.Connection)
    try:
        yield connection
    finally:
        await _close(connection, config.close_timeout)
