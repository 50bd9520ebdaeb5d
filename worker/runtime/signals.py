"""Run a worker until SIGTERM or SIGINT, then let it drain."""

from __future__ import annotations

import asyncio
import signal

from worker.runtime.service import Runner


async def run_until_signalled(worker: Runner) -> None:
    """Run ``worker``; the first SIGTERM/SIGINT starts a graceful stop."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, worker.stop)
    try:
        await worker.run()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
