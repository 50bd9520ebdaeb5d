"""The callback route's counters, on the process's registry (served at ``/metrics``).

Label values come from sets this package names: the two handled callback types (any other
type counts as ``other``), the refusal reasons, the registration outcomes.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

from worker.callbacks.model import HANDLED_TYPES

REASONS = (
    "forged",
    "unsigned",
    "foreign_account",
    "replayed",
    "malformed",
    "too_large",
    "disabled",
    "unavailable",
)
OUTCOMES = ("reconcile", "unknown", "unserved")


class CallbackMetrics:
    """Implements :class:`~worker.callbacks.intake.IntakeObserver` and counts requests."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._received = Counter(
            "sipline_voximplant_callbacks_received",
            "Voximplant account callbacks received, by type (before verification).",
            ["type"],
            registry=registry,
        )
        self._refused = Counter(
            "sipline_voximplant_callbacks_refused",
            "Voximplant callbacks refused or ignored, by reason: forged, unsigned, "
            "foreign_account, replayed (each a callback); malformed, too_large, disabled, "
            "unavailable (each a request).",
            ["reason"],
            registry=registry,
        )
        self._registrations = Counter(
            "sipline_voximplant_callback_registrations",
            "Registrations named by verified callbacks, by outcome: reconcile (a line.reconcile "
            "was published), unknown (no line references it: an orphan), unserved (its line's "
            "portal is not served here).",
            ["outcome"],
            registry=registry,
        )
        for kind in (*HANDLED_TYPES, "other"):
            self._received.labels(kind)
        for reason in REASONS:
            self._refused.labels(reason)
        for outcome in OUTCOMES:
            self._registrations.labels(outcome)

    def received(self, callback_type: str) -> None:
        self._received.labels(callback_type if callback_type in HANDLED_TYPES else "other").inc()

    def refused(self, reason: str) -> None:
        self._refused.labels(reason if reason in REASONS else "other").inc()

    def registration(self, outcome: str) -> None:
        self._registrations.labels(outcome if outcome in OUTCOMES else "other").inc()
