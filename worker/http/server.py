"""The process's one HTTP server: routes from several modules, one listening socket."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Protocol

from aiohttp import web

log = logging.getLogger(__name__)


class Routes(Protocol):
    """What a route module gives the server."""

    def install(self, app: web.Application) -> None:
        """Add the module's routes (and any ``cleanup_ctx`` it needs) to ``app``."""


def build_app(routes: Sequence[Routes]) -> web.Application:
    app = web.Application()
    for module in routes:
        module.install(app)
    return app


@asynccontextmanager
async def http_server(
    routes: Sequence[Routes], *, host: str, port: int | None
) -> AsyncIterator[str | None]:
    """Serve ``routes`` while the block runs; yields the base URL (None when disabled).

    ``port=None`` disables the server; ``port=0`` picks a free port (tests). A port that
    cannot be bound raises ``OSError`` before the block starts.
    """
    if port is None:
        yield None
        return
    runner = web.AppRunner(build_app(routes), access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound_host, bound_port = runner.addresses[0][:2]
        bound_host = f"[{bound_host}]" if ":" in bound_host else bound_host
        url = f"http://{bound_host}:{bound_port}"
        log.info("http server listening", extra={"url": url})
        yield url
    finally:
        await runner.cleanup()
