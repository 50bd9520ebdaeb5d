"""A worker process for tests that need a real process and real signals.

``python -m tests.runtime.worker_proc PREFIX DELAY [PREFETCH]`` runs the runtime with the
scripted ``line.reconcile`` handler, each call taking DELAY seconds.
"""

from __future__ import annotations

import asyncio
import logging
import sys

from tests.runtime.conftest import runtime_settings
from tests.runtime.fakes import ScriptedHandler
from worker.runtime.signals import run_until_signalled
from worker.runtime.wiring import build_worker


def main() -> None:
    prefix, delay = sys.argv[1], float(sys.argv[2])
    prefetch = int(sys.argv[3]) if len(sys.argv) > 3 else 64
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    settings = runtime_settings(prefix, prefetch=prefetch, shutdown_grace=10.0)
    worker = build_worker(settings, handlers={"line.reconcile": ScriptedHandler(delay=delay)})
    asyncio.run(run_until_signalled(worker))


if __name__ == "__main__":
    main()
