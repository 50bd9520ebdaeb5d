"""SIGTERM and SIGINT end the process in every state.

The first signal asks for a graceful stop: the callback registered with
:meth:`Shutdown.on_graceful` (the worker's drain) once there is one, or, while the process
is still starting (connecting, declaring, binding a port), an immediate stop. A second
signal stops at once whatever is running (in-flight work is cancelled and, unacknowledged,
goes back to the queue). Either way the scope ends normally: a stop that was asked for is
not an error, and the process exits 0.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from worker.runtime.service import Runner

log = logging.getLogger(__name__)

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Shutdown:
    """What a signal does now; see the module docstring."""

    def __init__(self, task: asyncio.Task[object]) -> None:
        self._task = task
        self._graceful: Callable[[], None] | None = None
        self.requested = False
        self.cancelled = False

    def on_graceful(self, callback: Callable[[], None]) -> None:
        """From now on, the first signal calls ``callback`` instead of stopping at once."""
        self._graceful = callback

    def signalled(self, sig: signal.Signals) -> None:
        if not self.requested:
            self.requested = True
            if self._graceful is not None:
                log.info("%s: stopping gracefully", sig.name)
                self._graceful()
                return
            log.info("%s while starting: stopping", sig.name)
        else:
            log.warning("%s again: stopping now", sig.name)
        if not self.cancelled:
            self.cancelled = True
            self._task.cancel()


@asynccontextmanager
async def signal_scope() -> AsyncIterator[Shutdown]:
    """Handle SIGTERM/SIGINT while the block runs (install this before any I/O)."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    shutdown = Shutdown(task)
    for sig in SIGNALS:
        loop.add_signal_handler(sig, shutdown.signalled, sig)
    try:
        yield shutdown
    except asyncio.CancelledError:
        if not shutdown.cancelled:
            raise
        task.uncancel()  # the stop was asked for: end normally
    finally:
        for sig in SIGNALS:
            loop.remove_signal_handler(sig)


async def run_until_signalled(worker: Runner) -> None:
    """Run ``worker``; the first SIGTERM/SIGINT drains it, a second stops it at once."""
    async with signal_scope() as shutdown:
        shutdown.on_graceful(worker.stop)
        await worker.run()
