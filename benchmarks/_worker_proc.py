"""A sipline worker alone in its own process, so that its CPU time and memory are its own.

``--handlers real`` is ``sipline run`` (``worker.cli.run.serve``): every handler, the
metrics endpoint and one log line per message.  ``--handlers noop`` is the same runtime,
metrics and logging with one trivial ``line.reconcile`` handler that makes one
``line.reconciled`` event and calls nothing: the runtime's own cost per command.

    python -m benchmarks._worker_proc --env-file FILE [--handlers real|noop] [--profile OUT]

Started and stopped (SIGTERM) by ``benchmarks.worker_cost``.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
from pathlib import Path
from typing import Any

from contracts import Bitrix24Side, LineReconciledData, Verdict, VoximplantSide
from worker.cli.common import load_settings, secret_values
from worker.observability import logs
from worker.runtime.handler import CommandContext, EventDraft, Outcome
from worker.settings import Settings


class Noop:
    """One ``line.reconciled`` per ``line.reconcile``, no upstream call."""

    async def __call__(self, command: Any, context: CommandContext) -> Outcome:
        config_id = command.data.config_id
        data = LineReconciledData(
            config_id=config_id,
            verdict=Verdict.IN_SYNC,
            bitrix24=Bitrix24Side(status_result="success"),
            voximplant=VoximplantSide(found=True, successful=True),
            attempts=1,
        )
        return Outcome(events=[EventDraft(data, subject=f"lines/{config_id}")])


async def serve_noop(settings: Settings) -> None:
    """``worker.cli.run.serve`` with the trivial handler in place of the real ones."""
    from worker.http import http_server
    from worker.http.health import HealthRoutes
    from worker.http.metrics import MetricsRoutes
    from worker.observability.metrics import Metrics
    from worker.runtime.signals import run_until_signalled
    from worker.runtime.wiring import build_runner

    metrics = Metrics()
    worker = build_runner(settings, handlers={"line.reconcile": Noop()}, observer=metrics)
    metrics.watch(worker)
    routes = [HealthRoutes(worker), MetricsRoutes(metrics)]
    async with http_server(routes, host=settings.metrics_host, port=settings.metrics_port):
        await run_until_signalled(worker)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--env-file", type=Path, required=True, help="dotenv of SIPLINE_*")
    parser.add_argument("--handlers", choices=("real", "noop"), default="real")
    parser.add_argument("--profile", type=Path, default=None, help="write cProfile stats here")
    args = parser.parse_args()
    settings = load_settings(args.env_file)
    logs.configure(
        level=settings.log_level, fmt=settings.log_format, secrets=secret_values(settings)
    )
    if args.handlers == "real":
        from worker.cli.run import serve

        run = serve(settings)
    else:
        run = serve_noop(settings)
    if args.profile is None:
        asyncio.run(run)
        return
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        asyncio.run(run)
    finally:
        profiler.disable()
        profiler.dump_stats(args.profile)


if __name__ == "__main__":
    main()
