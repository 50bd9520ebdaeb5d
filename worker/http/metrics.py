"""``GET /metrics``: the Prometheus text of the process's :class:`Metrics`."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from worker.observability.metrics import Metrics


@dataclass(frozen=True, slots=True)
class MetricsRoutes:
    metrics: Metrics

    def install(self, app: web.Application) -> None:
        app.router.add_get("/metrics", self.scrape)

    async def scrape(self, request: web.Request) -> web.Response:
        return web.Response(
            body=self.metrics.render(), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )
