"""``GET /healthz`` (liveness) and ``GET /readyz`` (readiness).

``/healthz`` answers 200 only while the process can still do its job:

- the event loop responds: a probe task sleeps ``interval`` seconds in a loop and measures
  how late it wakes up; a loop blocked by a CPU-bound call or a synchronous I/O shows as lag
  (the probe's last wake-up grows old even while nothing can measure it), and a lag above
  ``max_lag`` is unhealthy;
- the consumer is attached, or in a phase that has a deadline (starting, reconnecting,
  draining) and still within it. A worker past its deadline should have exited by itself;
  if it is still here, something is stuck and a restart is the remedy.

Otherwise 503 with a JSON body whose ``reason`` says which. ``/readyz`` answers 200 only
while consuming.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiohttp import web

from worker.runtime.service import WorkerStatus


class StatusSource(Protocol):
    def status(self) -> WorkerStatus: ...


class LoopLag:
    """How late the event loop runs a task that asked to wake up every ``interval`` s."""

    def __init__(
        self, *, interval: float = 0.25, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.interval = interval
        self._clock = clock
        self._last_tick = clock()
        self._lag = 0.0

    def current(self) -> float:
        """The last measured lag, or how overdue the next wake-up already is if larger."""
        overdue = self._clock() - self._last_tick - self.interval
        return max(self._lag, overdue, 0.0)

    async def run(self) -> None:
        while True:
            started = self._clock()
            await asyncio.sleep(self.interval)
            now = self._clock()
            self._lag = max(0.0, now - started - self.interval)
            self._last_tick = now

    async def context(self, app: web.Application) -> AsyncIterator[None]:
        """aiohttp ``cleanup_ctx``: the probe runs exactly as long as the server."""
        self._last_tick = self._clock()
        task = asyncio.create_task(self.run(), name="sipline-loop-lag")
        try:
            yield
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


@dataclass(slots=True)
class HealthRoutes:
    worker: StatusSource
    max_lag: float = 2.0
    probe: LoopLag = field(default_factory=LoopLag)
    clock: Callable[[], float] = time.monotonic

    def install(self, app: web.Application) -> None:
        app.cleanup_ctx.append(self.probe.context)
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/readyz", self.readyz)

    def verdict(self) -> tuple[bool, dict[str, Any]]:
        """Whether the process is alive, and the JSON body that says why (or why not)."""
        status = self.worker.status()
        lag = self.probe.current()
        age = max(0.0, self.clock() - status.since)
        body: dict[str, Any] = {
            "phase": status.phase,
            "phase_seconds": round(age, 3),
            "loop_lag_seconds": round(lag, 3),
            "in_flight": status.in_flight,
        }
        if lag > self.max_lag:
            reason = f"event loop lag {lag:.1f} s (limit {self.max_lag:g} s)"
        elif status.deadline is not None and age > status.deadline:
            reason = f"{status.phase} for {age:.0f} s (limit {status.deadline:g} s)"
        else:
            return True, {"status": "alive", **body}
        return False, {"status": "unhealthy", "reason": reason, **body}

    async def healthz(self, request: web.Request) -> web.Response:
        alive, body = self.verdict()
        return web.json_response(body, status=200 if alive else 503)

    async def readyz(self, request: web.Request) -> web.Response:
        status = self.worker.status()
        if status.phase == "consuming":
            return web.json_response({"status": "ready", "in_flight": status.in_flight})
        return web.json_response({"status": "not consuming", "phase": status.phase}, status=503)
