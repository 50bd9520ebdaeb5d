"""One observer for both upstream clients: counts calls per command (the sweep's figures)
and, when given metrics, records them there too."""

from __future__ import annotations

from typing import Protocol

from worker.observability.meter import count_call


class UpstreamMetrics(Protocol):
    def upstream_call(
        self, upstream: str, method: str, status: int | None, code: str, seconds: float
    ) -> None: ...

    def limiter_wait(self, upstream: str, portal: str, seconds: float) -> None: ...


# The limiter reports the time ``acquire`` took, which is never quite zero; shorter than
# this is admission, not a wait, and would drown the real waits in the histogram.
WAIT_FLOOR_SECONDS = 0.001


class UpstreamObserver:
    """Satisfies both the Bitrix24 and the Voximplant client's observer protocols."""

    def __init__(self, *, metrics: UpstreamMetrics | None = None) -> None:
        self._metrics = metrics

    def on_request(
        self,
        *,
        method: str,
        status: int | None,
        code: str,
        duration: float,
        portal: str | None = None,
    ) -> None:
        upstream = "bitrix24" if portal is not None else "voximplant"
        count_call(upstream)
        if self._metrics is not None:
            self._metrics.upstream_call(upstream, method, status, code, duration)

    def on_limiter_wait(self, *, portal: str, method: str, seconds: float) -> None:
        if self._metrics is not None and seconds >= WAIT_FLOOR_SECONDS:
            self._metrics.limiter_wait("bitrix24", portal, seconds)
