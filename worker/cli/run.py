"""``sipline run``: the worker, until SIGTERM or SIGINT."""

from __future__ import annotations

import logging
import signal
from pathlib import Path

import click

from worker.cli.common import env_file_option, fail, secret_values, settings_or_exit
from worker.cli.store import store_secrets
from worker.errors import ConfigurationError
from worker.settings import Settings
from worker.store import StoreUnavailable

log = logging.getLogger(__name__)


async def serve(settings: Settings) -> None:
    """Run the worker with its HTTP endpoints until a signal stops it.

    Signals are handled from the first instruction: a SIGTERM while connecting ends the
    start at once, one while consuming drains (see :mod:`worker.runtime.signals`). The
    store comes first: its migrations run (once, under a lock) before anything is consumed.
    """
    from worker.adapters.store import open_store
    from worker.bootstrap import application
    from worker.observability.metrics import Metrics
    from worker.observability.upstream import UpstreamObserver
    from worker.runtime.signals import signal_scope

    metrics = Metrics()
    async with (
        signal_scope() as shutdown,
        open_store(settings) as store,
        application(
            settings,
            upstream_observer=UpstreamObserver(metrics=metrics),
            message_observer=metrics,
            metrics=metrics,
            store=store,
        ) as app,
    ):
        shutdown.on_graceful(app.stop)
        await app.worker.run()


@click.command()
@env_file_option
def run(env_file: Path | None) -> None:
    """Run the worker: consume commands, apply them, cross-check, publish events."""
    settings = settings_or_exit(env_file)
    # Until the event loop handles them (runtime/signals.py), SIGINT and SIGTERM end the
    # process the default way: even when SIGINT was inherited ignored (a background job of a
    # non-interactive shell), and without asyncio.run turning an early SIGINT into a
    # cancellation the code would take for a failure.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)

    from worker.adapters.amqp.connection import BrokerUnreachable
    from worker.observability import logs
    from worker.runtime.service import SupervisionError
    from worker.runtime.signals import run_process

    logs.configure(
        level=settings.log_level,
        fmt=settings.log_format,
        secrets=[*secret_values(settings), *store_secrets(settings)],
    )
    try:
        run_process(serve(settings))
    except ConfigurationError as exc:
        fail(str(exc))
    except StoreUnavailable as exc:
        log.critical("cannot open the store: %s", exc)
        raise SystemExit(1) from None
    except SupervisionError as exc:
        log.critical("giving up: %s", exc)
        raise SystemExit(1) from None
    except BrokerUnreachable as exc:
        log.critical("cannot reach the broker: %s", exc)
        raise SystemExit(1) from None
    except OSError as exc:
        log.critical("cannot reach the broker or bind a port: %s", exc.strerror or exc)
        raise SystemExit(1) from None
