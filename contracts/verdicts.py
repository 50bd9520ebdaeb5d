"""A line's verdict: what cross-checking its two sides found.

A module of its own, with no model in it, so that a reader of verdicts (``sipline status``)
need not build every command and event model to know their names.
"""

from __future__ import annotations

from enum import StrEnum


class Verdict(StrEnum):
    """The outcome of cross-checking one line's two sides."""

    IN_SYNC = "in_sync"
    REGISTRATION_FAILED = "registration_failed"
    STATUS_MISMATCH = "status_mismatch"
    CONFIG_DRIFT = "config_drift"
    MISSING_REGISTRATION = "missing_registration"
    DEACTIVATED = "deactivated"
    PENDING_TIMEOUT = "pending_timeout"
