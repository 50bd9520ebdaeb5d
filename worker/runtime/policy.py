"""The failure policy: one place that decides what happens to a command that did not succeed.

=================  ====================================  =========================================
error class        what happens to the delivery          what is published
=================  ====================================  =========================================
BadInput           dead-lettered now, never retried      ``command.rejected``
TransientError     re-published to a delay tier while    nothing (each retry is a new attempt);
                   attempts remain, then dead-lettered   ``command.failed`` when attempts run out
                   (``retries_exhausted``)
NeedsOperator      dead-lettered now                     ``command.failed`` with the upstream code
                   (``configuration_error``; a portal
                   whose OAuth pair is gone:
                   ``reauthorization_required``): replay
                   it once the credentials or the billing
                   are fixed
PermanentError     acked: no retry, no dead letter       ``command.failed`` with the upstream code
anything else      treated as transient (a bug may be    as for TransientError
                   fixed and the message replayed)
=================  ====================================  =========================================

In every case the delivery is acked only after what is published has been confirmed.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Final

from worker.errors import (
    BadInput,
    NeedsOperator,
    PermanentError,
    ReauthorizationRequired,
    SiplineError,
    TransientError,
)

RETRIES_EXHAUSTED: Final = "retries_exhausted"
CONFIGURATION_ERROR: Final = NeedsOperator.dead_letter_reason
REAUTHORIZATION_REQUIRED: Final = ReauthorizationRequired.dead_letter_reason


class Action(Enum):
    REJECT = "reject"
    RETRY = "retry"
    EXHAUSTED = "exhausted"
    PARK = "park"  # dead-letter for a replay after an operator's fix, and report failed
    FAIL = "fail"


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    error: SiplineError
    delay: float = 0.0

    @property
    def dead_letter_reason(self) -> str | None:
        """The ``x-sipline-reason`` of the dead letter this decision makes, if any."""
        if self.action is Action.REJECT:
            assert isinstance(self.error, BadInput)
            return self.error.reason
        if self.action is Action.EXHAUSTED:
            return RETRIES_EXHAUSTED
        if self.action is Action.PARK:
            assert isinstance(self.error, NeedsOperator)
            return self.error.dead_letter_reason
        return None


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential spacing through the configured tiers, up to ``max_attempts``."""

    delays: tuple[float, ...]
    max_attempts: int

    def delay_for(self, attempt: int, hint: float | None = None) -> float:
        """Delay before attempt ``attempt + 1`` (``attempt`` counts from 1)."""
        index = min(attempt - 1, len(self.delays) - 1)
        base = self.delays[max(index, 0)]
        return max(base, hint or 0.0)

    def decide(self, error: BaseException, attempt: int) -> Decision:
        classified = classify(error)
        if isinstance(classified, BadInput):
            return Decision(Action.REJECT, classified)
        if isinstance(classified, NeedsOperator):
            return Decision(Action.PARK, classified)
        if isinstance(classified, PermanentError):
            return Decision(Action.FAIL, classified)
        assert isinstance(classified, TransientError)
        if attempt >= self.max_attempts:
            return Decision(Action.EXHAUSTED, classified)
        return Decision(
            Action.RETRY, classified, delay=self.delay_for(attempt, classified.retry_after)
        )


def classify(error: BaseException) -> SiplineError:
    """Every exception as a member of the error tree; unknown ones become transient."""
    if isinstance(error, BadInput | PermanentError | TransientError):
        return error
    if isinstance(error, SiplineError):
        return PermanentError(error.message, code=error.code)
    # An unexpected exception is a bug or an unclassified upstream failure; its text may carry
    # a URL with a secret in it, so only its type is kept.
    return TransientError(f"internal error ({type(error).__name__})", code="INTERNAL_ERROR")
