"""``GET /``: the status page (rendered by :mod:`worker.status.html`).

One read of the store per request (every portal's counts by verdict, counted by the
store, and the first ``max_lines`` out-of-sync lines, worst first: never every line) and
the dead-letter summary from its cache, which never holds the page up for long.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from aiohttp import web

from worker.adapters.amqp.topology import Names
from worker.errors import SiplineError
from worker.http.api import StatusApiRoutes
from worker.http.server import Routes
from worker.status.dead_letters import DeadLetterCache
from worker.status.html import DeadLetterView, page
from worker.status.query import Selection, StatusQuery
from worker.store import Store


class DeadLetterSource(Protocol):
    async def summary(self) -> DeadLetterView | None: ...

    async def close(self) -> None: ...


@dataclass(slots=True)
class StatusPageRoutes:
    query: StatusQuery
    dead_letters: DeadLetterSource | None = None
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    max_lines: int = 500  # out-of-sync lines listed; the rest are counted, with a link
    max_portals: int = 500

    def install(self, app: web.Application) -> None:
        app.cleanup_ctx.append(self._lifetime)
        app.router.add_get("/", self.index)

    async def _lifetime(self, app: web.Application) -> AsyncIterator[None]:
        yield
        if self.dead_letters is not None:
            await self.dead_letters.close()

    async def index(self, request: web.Request) -> web.Response:
        try:
            overview = await self.query.overview(
                Selection(out_of_sync=True), every_portal=True, limit=self.max_lines
            )
        except SiplineError as exc:
            return web.Response(
                status=503,
                text=f"sipline status: the store cannot answer now ({exc.code})\n",
            )
        letters = None if self.dead_letters is None else await self.dead_letters.summary()
        body = page(
            overview,
            dead_letters=letters,
            now=self.clock(),
            max_lines=self.max_lines,
            max_portals=self.max_portals,
        )
        return web.Response(
            text=body,
            content_type="text/html",
            headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
        )


def status_routes(*, store: Store, amqp_url: str, names: Names) -> list[Routes]:
    """The JSON API and the status page over ``store``, the DLQ summary from ``names``."""
    query = StatusQuery(store=store)
    dead_letters = DeadLetterCache(amqp_url=amqp_url, names=names)
    return [StatusApiRoutes(query), StatusPageRoutes(query, dead_letters=dead_letters)]
