"""A hook the metrics layer plugs into; the client works the same without one."""

from __future__ import annotations

from typing import Protocol


class Bitrix24Observer(Protocol):
    """Told about every HTTP request and every wait in the client-side limiter."""

    def on_request(
        self, *, portal: str, method: str, status: int | None, code: str, duration: float
    ) -> None:
        """One request finished: ``status`` is None when no HTTP answer came; ``code`` is
        ``"OK"`` or the upstream's (or the client's) error code."""

    def on_limiter_wait(self, *, portal: str, method: str, seconds: float) -> None:
        """A call waited ``seconds`` for the portal's leaky bucket."""


class NullObserver:
    """The default: observes nothing."""

    def on_request(
        self, *, portal: str, method: str, status: int | None, code: str, duration: float
    ) -> None:
        return None

    def on_limiter_wait(self, *, portal: str, method: str, seconds: float) -> None:
        return None
