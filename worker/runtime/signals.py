"""SIGTERM and SIGINT end the process in every state.

The first signal asks for a graceful stop: the callback registered with
:meth:`Shutdown.on_graceful` (the worker's drain) once there is one, or, while the process
is still starting (connecting, declaring, binding a port), an immediate stop. A second
signal stops at once whatever is running (in-flight work is cancelled and, unacknowledged,
goes back to the queue). Either way the scope ends normally: a stop that was asked for is
not an error, and the process exits 0.

:func:`run_process` is ``asyncio.run`` with a bounded end: a task still running when the
main coroutine returns is cancelled, again if it swallows that, and given
:data:`LEFTOVER_GRACE` seconds in all, never for ever (``asyncio.run`` waits for ever; an
aiosqlite connection closed while its thread stops is such a task, and kept a stopped
worker alive).
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager, suppress
from typing import Any

from worker.runtime.service import Runner

log = logging.getLogger(__name__)

SIGNALS = (signal.SIGTERM, signal.SIGINT)
LEFTOVER_GRACE = 5.0  # seconds the tasks left when the main coroutine ends get, in all


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


def run_process(main: Coroutine[Any, Any, None], *, leftover_grace: float = LEFTOVER_GRACE) -> None:
    """Run ``main`` on a new event loop, then end what it left behind within
    ``leftover_grace`` seconds (see the module) and close the loop."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(main)
    finally:
        try:
            loop.run_until_complete(_end_leftovers(leftover_grace))
            loop.run_until_complete(loop.shutdown_asyncgens())
            with suppress(TimeoutError):
                loop.run_until_complete(
                    asyncio.wait_for(loop.shutdown_default_executor(), leftover_grace)
                )
        finally:
            asyncio.set_event_loop(None)
            loop.close()


async def _end_leftovers(grace: float) -> None:
    """Cancel every other task, again each ~0.5 s while any swallows it, for ``grace`` s."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + grace
    this = asyncio.current_task()
    ended: set[asyncio.Task[Any]] = set()
    while pending := {t for t in asyncio.all_tasks() if t is not this}:
        left = deadline - loop.time()
        if left <= 0:
            names = sorted({repr(t.get_coro()).split(" ")[0] for t in pending})
            log.warning(
                "ending with %d task(s) that did not stop when cancelled: %s",
                len(pending),
                ", ".join(names),
            )
            break
        for task in pending:
            task.cancel()
        ended |= pending
        await asyncio.wait(pending, timeout=min(0.5, left))
    for task in ended:  # what they raised was theirs to report; retrieved, the loop is quiet
        if task.done() and not task.cancelled():
            task.exception()
