"""Count the upstream HTTP requests one command causes, however many commands run at once.

A counter lives in a context variable for the duration of one handler call; the upstream
observer (``worker.observability.upstream.UpstreamObserver``) adds to whichever counter is
current in the calling task, so concurrent commands sharing a client never count each
other's calls.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_current: ContextVar[Counter[str] | None] = ContextVar("sipline_call_meter", default=None)


@contextmanager
def metering() -> Iterator[Counter[str]]:
    """Count, per upstream, the requests made inside the ``with`` block (this task only)."""
    counter: Counter[str] = Counter()
    token = _current.set(counter)
    try:
        yield counter
    finally:
        _current.reset(token)


def count_call(upstream: str) -> None:
    counter = _current.get()
    if counter is not None:
        counter[upstream] += 1
