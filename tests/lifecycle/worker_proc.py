"""A worker process with a slow scripted handler, its settings from the environment.

``python -m tests.lifecycle.worker_proc DELAY``: ``line.reconcile`` takes DELAY seconds;
everything else (broker URL, prefix, grace, prefetch) comes from ``SIPLINE_*`` variables,
as for ``sipline run``. SIGTERM/SIGINT as in production (:func:`run_until_signalled`).
"""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import Any

from tests.runtime.fakes import ScriptedHandler
from worker.runtime.handler import CommandContext, Outcome
from worker.runtime.signals import run_until_signalled
from worker.runtime.wiring import build_worker
from worker.settings import Settings


class Announced(ScriptedHandler):
    """Says on stderr when each call starts, so a test knows what is in flight."""

    async def __call__(self, command: Any, context: CommandContext) -> Outcome:
        print(f"handling {command.data.config_id}", file=sys.stderr, flush=True)
        return await super().__call__(command, context)


def main() -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    settings = Settings.from_environment()
    handler = Announced(delay=float(sys.argv[1]))
    worker = build_worker(settings, handlers={"line.reconcile": handler})
    asyncio.run(run_until_signalled(worker))


if __name__ == "__main__":
    main()
