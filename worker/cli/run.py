"""``sipline run``: the worker, until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import click

from worker.cli.common import env_file_option, fail, secret_values, settings_or_exit
from worker.cli.store import store_secrets
from worker.errors import ConfigurationError
from worker.observability import logs
from worker.runtime.service import SupervisionError
from worker.settings import Settings
from worker.store import StoreUnavailable

log = logging.getLogger(__name__)


async def serve(settings: Settings) -> None:
    """Run the worker with its metrics endpoint until a signal stops it."""
    from worker.adapters.store import open_store
    from worker.bootstrap import application
    from worker.observability.metrics import Metrics, serve_metrics
    from worker.observability.upstream import UpstreamObserver
    from worker.runtime.signals import run_until_signalled

    metrics = Metrics()
    # the store first: its migrations run (once, under a lock) before anything is consumed
    async with (
        open_store(settings),
        application(
            settings,
            upstream_observer=UpstreamObserver(metrics=metrics),
            message_observer=metrics,
        ) as app,
    ):
        metrics.watch(app.worker)
        async with serve_metrics(metrics, app.worker, settings):
            await run_until_signalled(app.worker)


@click.command()
@env_file_option
def run(env_file: Path | None) -> None:
    """Run the worker: consume commands, apply them, cross-check, publish events."""
    settings = settings_or_exit(env_file)
    logs.configure(
        level=settings.log_level,
        fmt=settings.log_format,
        secrets=[*secret_values(settings), *store_secrets(settings)],
    )
    try:
        asyncio.run(serve(settings))
    except ConfigurationError as exc:
        fail(str(exc))
    except StoreUnavailable as exc:
        log.critical("cannot open the store: %s", exc)
        raise SystemExit(1) from None
    except SupervisionError as exc:
        log.critical("giving up: %s", exc)
        raise SystemExit(1) from None
    except OSError as exc:
        log.critical("cannot reach the broker or bind a port: %s", exc.strerror or exc)
        raise SystemExit(1) from None
