"""Runtime fault injection, so that every failure the client must survive can be produced.

Faults are queued and served one per API request, in order; ``times=None`` keeps a fault
until :meth:`FaultInjector.clear`.  Latency applies to every API request.  Admin requests
(``/_sandbox/…``) are never faulted.

With the queue empty, ``shares`` (kind → 0..1) fault a random share of requests instead,
and ``stall`` holds a share of requests for ``stall_seconds`` before serving them as usual
(a client with a shorter timeout gives up): the steady background noise of a resilience run.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["Fault", "FaultInjector", "FaultKind"]

FaultKind = Literal["status", "html", "drop", "api_error"]
_KINDS: tuple[FaultKind, ...] = ("status", "html", "drop", "api_error")


@dataclass(frozen=True, slots=True)
class Fault:
    """One injected failure.

    ``status``: that HTTP status with a plain-text body (``retry_after`` sets the header);
    ``html``: HTTP 200 with an HTML page; ``drop``: the connection closes without an answer;
    ``api_error``: the documented error envelope with ``code``, HTTP 200.
    """

    kind: FaultKind
    status: int = 500
    code: int = 340
    message: str = "Rate limit exceeded"
    retry_after: float | None = None


@dataclass(slots=True)
class _Queued:
    fault: Fault
    remaining: int | None


class FaultInjector:
    """The account's fault queue and latency."""

    def __init__(self, *, seed: int | None = None) -> None:
        self.latency = 0.0
        self.served = 0
        self.shares: dict[FaultKind, float] = {}
        self.stall = 0.0
        self.stall_seconds = 0.0
        self.stalled = 0
        self._queue: deque[_Queued] = deque()
        self._rng = random.Random(seed)  # noqa: S311 - fault dice, not security

    def inject(self, fault: Fault, *, times: int | None = 1) -> None:
        """Serve ``fault`` to the next ``times`` API requests (None: until cleared)."""
        if times is not None and times < 1:
            raise ValueError("times must be positive or None")
        self._queue.append(_Queued(fault, times))

    def http_status(
        self, status: int, *, times: int | None = 1, retry_after: float | None = None
    ) -> None:
        self.inject(Fault("status", status=status, retry_after=retry_after), times=times)

    def html(self, *, times: int | None = 1) -> None:
        self.inject(Fault("html"), times=times)

    def drop(self, *, times: int | None = 1) -> None:
        self.inject(Fault("drop"), times=times)

    def api_error(
        self, code: int, message: str = "Injected error", *, times: int | None = 1
    ) -> None:
        self.inject(Fault("api_error", code=code, message=message), times=times)

    def rate_limit(self, *, times: int | None = 1) -> None:
        """Code 340, as Voximplant answers when the account's request rate is exceeded."""
        self.api_error(340, "Rate limit exceeded", times=times)

    def clear(self) -> None:
        """No more faults, shares, stalls or latency."""
        self._queue.clear()
        self.latency = 0.0
        self.shares = {}
        self.stall = self.stall_seconds = 0.0

    def stall_for(self) -> float:
        """Seconds to hold this request before serving it (0: do not hold it)."""
        if self.stall > 0 and self._rng.random() < self.stall:
            self.stalled += 1
            return self.stall_seconds
        return 0.0

    def _roll(self) -> Fault | None:
        dice = self._rng.random()
        for kind, share in self.shares.items():
            if dice < share:
                self.served += 1
                return Fault(kind)
            dice -= share
        return None

    def take(self) -> Fault | None:
        """The fault for this request, if any."""
        if not self._queue:
            return self._roll() if self.shares else None
        head = self._queue[0]
        if head.remaining is not None:
            head.remaining -= 1
            if head.remaining == 0:
                self._queue.popleft()
        self.served += 1
        return head.fault

    def configure(self, spec: dict[str, Any]) -> None:
        """Apply a JSON request of the admin endpoint (see ``POST /_sandbox/faults``).

        ``{"latency": 0.5}`` and/or ``{"kind": "status", "status": 503, "times": 2}``;
        unknown keys or kinds raise ``ValueError``.
        """
        allowed = {"latency", "kind", "status", "code", "message", "retry_after", "times"}
        allowed |= {"shares", "stall", "stall_seconds"}
        unknown = set(spec) - allowed
        if unknown:
            raise ValueError(f"unknown fault fields: {sorted(unknown)}")
        if "latency" in spec:
            latency = float(spec["latency"])
            if latency < 0:
                raise ValueError("latency must not be negative")
            self.latency = latency
        self._configure_noise(spec)
        if "kind" not in spec:
            return
        kind = spec["kind"]
        if kind not in _KINDS:
            raise ValueError(f"kind must be one of {list(_KINDS)}")
        retry_after = spec.get("retry_after")
        fault = Fault(
            kind,
            status=int(spec.get("status", 500)),
            code=int(spec.get("code", 340)),
            message=str(spec.get("message", "Injected error")),
            retry_after=float(retry_after) if retry_after is not None else None,
        )
        times = spec.get("times", 1)
        self.inject(fault, times=None if times is None else int(times))

    def _configure_noise(self, spec: dict[str, Any]) -> None:
        """``shares``: ``{"status": 0.05, "html": 0.05, …}``; ``stall``/``stall_seconds``."""
        if "shares" in spec:
            shares = spec["shares"]
            if not isinstance(shares, dict) or set(shares) - set(_KINDS):
                raise ValueError(f"shares must map kinds of {list(_KINDS)} to 0..1")
            parsed = {kind: float(share) for kind, share in shares.items()}
            if any(s < 0 for s in parsed.values()) or sum(parsed.values()) > 1:
                raise ValueError("shares must be non-negative and add up to at most 1")
            self.shares = parsed
        if "stall" in spec:
            stall = float(spec["stall"])
            if not 0 <= stall <= 1:
                raise ValueError("stall must be a share in 0..1")
            self.stall = stall
        if "stall_seconds" in spec:
            seconds = float(spec["stall_seconds"])
            if seconds < 0:
                raise ValueError("stall_seconds must not be negative")
            self.stall_seconds = seconds
