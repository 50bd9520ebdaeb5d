"""What both upstream clients report about their requests, to whoever watches.

One observer protocol serves the Bitrix24 and the Voximplant client (the metrics layer
implements it); the clients work the same without one. A :class:`Tally` is different: it
is passed into one operation and counts exactly the requests that operation sent, however
many other operations share the client, so a caller can report what its work cost without
any observer being wired.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

Upstream = Literal["bitrix24", "voximplant"]


class RequestObserver(Protocol):
    """Told about every HTTP request and every client-side limiter wait; never raises."""

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
        """One request finished: ``status`` is None when no HTTP answer came; ``code`` is
        ``"OK"`` or the upstream's (or the client's) error code; ``portal`` is None for an
        upstream that has no portals (Voximplant)."""

    def on_limiter_wait(
        self, *, upstream: Upstream, portal: str, method: str, seconds: float
    ) -> None:
        """A call waited ``seconds`` for the portal's leaky bucket."""


class NullObserver:
    """The default: observes nothing."""

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
        return None

    def on_limiter_wait(
        self, *, upstream: Upstream, portal: str, method: str, seconds: float
    ) -> None:
        return None


@dataclass(slots=True)
class Tally:
    """HTTP requests one operation sent (retries and batch requests each count once)."""

    requests: int = 0


def count(tally: Tally | None) -> None:
    """Count one request on ``tally`` when the caller passed one."""
    if tally is not None:
        tally.requests += 1
