"""The upstream clients' observer (``worker.adapters.upstream.RequestObserver``) that
records their requests and limiter waits as metrics."""

from __future__ import annotations

from typing import Protocol

from worker.adapters.upstream import Upstream


class UpstreamMetrics(Protocol):
    def upstream_call(
        self, upstream: str, method: str, status: int | None, code: str, seconds: float
    ) -> None: ...

    def limiter_wait(self, upstream: str, portal: str, seconds: float) -> None: ...

    def reauthorization_required(self, reason: str) -> None: ...


# The limiter reports the time ``acquire`` took, which is never quite zero; shorter than
# this is admission, not a wait, and would drown the real waits in the histogram.
WAIT_FLOOR_SECONDS = 0.001


class UpstreamObserver:
    """Serves both the Bitrix24 and the Voximplant client; records nothing without metrics."""

    def __init__(self, *, metrics: UpstreamMetrics | None = None) -> None:
        self._metrics = metrics

    def on_request(
        self,
        *,
        upstream: Upstream,
        portal: str | None,
        method: str,
        status: int | None,
        code: str,
        duration: float,
    ) -> None:
        if self._metrics is not None:
            self._metrics.upstream_call(upstream, method, status, code, duration)

    def on_limiter_wait(
        self, *, upstream: Upstream, portal: str, method: str, seconds: float
    ) -> None:
        if self._metrics is not None and seconds >= WAIT_FLOOR_SECONDS:
            self._metrics.limiter_wait(upstream, portal, seconds)

    def on_reauthorization_required(self, *, portal: str, reason: str) -> None:
        """This process marked ``portal`` as needing authorising again."""
        if self._metrics is not None:
            self._metrics.reauthorization_required(reason)
