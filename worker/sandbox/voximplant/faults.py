"""Runtime fault injection, so that every failure the client must survive can be produced.

Faults are queued and served one per API request, in order; ``times=None`` keeps a fault
until :meth:`FaultInjector.clear`.  Latency applies to every API request.  Admin requests
(``/_sandbox/…``) are never faulted.
"""

from __future__ import annotations

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

    def __init__(self) -> None:
        self.latency = 0.0
        self.served = 0
        self._queue: deque[_Queued] = deque()

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
        """No more faults and no latency."""
        self._queue.clear()
        self.latency = 0.0

    def take(self) -> Fault | None:
        """The fault for this request, if any."""
        if not self._queue:
            return None
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
        unknown = set(spec) - allowed
        if unknown:
            raise ValueError(f"unknown fault fields: {sorted(unknown)}")
        if "latency" in spec:
            latency = float(spec["latency"])
            if latency < 0:
                raise ValueError("latency must not be negative")
            self.latency = latency
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
