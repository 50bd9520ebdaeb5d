"""The Bitrix24 adapter's own settings: what every portal's client shares.

Built at the edge (``worker.bootstrap``) from the application's settings; a portal's own
configuration (webhook or OAuth app, plan) is its ``PortalSettings``. The defaults suit a
real portal; tests shrink them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Bitrix24Settings:
    """Timeouts and the client's handling of the portal's limits."""

    connect_timeout: float = 5.0
    """Seconds to open a connection to a portal."""
    total_timeout: float = 65.0
    """Seconds one request may take in all (a portal allows 60)."""
    bucket_headroom: int = 2
    """Requests of the portal's bucket the client leaves unused (see ``limiter``)."""
    query_limit_retries: int = 3
    """Retries after ``QUERY_LIMIT_EXCEEDED`` before the error is raised."""
    query_limit_backoff: float = 1.0
    """Least seconds every caller of the portal waits after ``QUERY_LIMIT_EXCEEDED``."""
    batch_size: int = 50
    """Commands per ``batch`` request (Bitrix24 allows at most 50)."""
