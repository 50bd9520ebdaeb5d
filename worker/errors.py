"""One rooted error tree, split by what the worker must do with the message.

::

    SiplineError
    ├── ConfigurationError        start-up: the process cannot run (exit non-zero)
    ├── BadInput                  the message itself is wrong: dead-letter now, never retry,
    │                             publish ``command.rejected``
    ├── TransientError            the world is temporarily wrong: retry through the delay tiers,
    │   │                         dead-letter with ``command.failed`` when attempts run out
    │   ├── UpstreamUnavailable   5xx, HTML bodies, dropped connections, timeouts
    │   └── RateLimited           the upstream asked us to slow down
    └── PermanentError            the upstream refused for good: ``command.failed``, ack,
        │                         no retry, no dead letter
        └── NeedsOperator         the set-up is wrong (credentials, rights, billing):
            │                     ``command.failed`` and dead-lettered, so the command can
            │                     be replayed once an operator has fixed it
            └── AuthorizationError    credentials, scopes or rights are wrong

The failure policy (``worker.runtime.policy``) looks only at these classes.  Messages
must never contain secrets: callers build them from codes, method names and masked URLs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from contracts import RejectReason


@dataclass(frozen=True, slots=True)
class FieldProblem:
    """One thing wrong with one field of a rejected message."""

    field: str
    problem: str


class SiplineError(Exception):
    """Base of every error the project raises on purpose."""

    code: str = "SIPLINE_ERROR"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return self.message


class ConfigurationError(SiplineError):
    """The settings or a credentials file cannot be used; the process must not start."""

    code = "CONFIGURATION_ERROR"


class BadInput(SiplineError):
    """The message can never be processed as it is; retrying would not help."""

    code = "BAD_INPUT"

    def __init__(
        self,
        message: str,
        *,
        reason: RejectReason,
        problems: list[FieldProblem] | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message, code=code)
        self.reason = reason
        self.problems: list[FieldProblem] = list(problems or [])


class TransientError(SiplineError):
    """Retry later: the same command may well succeed.

    ``retry_after`` (seconds) is a hint from the upstream, used as the minimum delay.
    """

    code = "TRANSIENT"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after


class UpstreamUnavailable(TransientError):
    """The upstream did not answer usefully: 5xx, a non-JSON body, a reset, a timeout."""

    code = "UPSTREAM_UNAVAILABLE"


class RateLimited(TransientError):
    """The upstream's rate or operating-time limit was hit."""

    code = "RATE_LIMITED"


class PermanentError(SiplineError):
    """The upstream refused the change for a reason that retrying will not fix."""

    code = "PERMANENT"


class NeedsOperator(PermanentError):
    """A configuration failure: retrying will not help, but fixing the set-up will.

    A revoked token, a rotated password, a missing right, an unpaid connector: the command
    itself is fine, so it is kept in the dead-letter queue for a replay.
    """

    code = "NEEDS_OPERATOR"
    dead_letter_reason = "configuration_error"
    """The ``x-sipline-reason`` the commands it parks are dead-lettered with."""


class AuthorizationError(NeedsOperator):
    """Credentials, scopes or rights are wrong; an operator must act."""

    code = "AUTHORIZATION_ERROR"


class ReauthorizationRequired(AuthorizationError):
    """A portal's OAuth pair is gone (its refresh token was refused): the application must be
    installed again, or given new tokens, before the portal's commands can run.

    Dead-lettered with its own reason, ``reauthorization_required``, so the parked commands
    of such portals can be told apart and replayed once the portal is installed again.
    """

    code = "OAUTH_REAUTHORIZATION_REQUIRED"
    dead_letter_reason = "reauthorization_required"

    def __init__(self, message: str, *, reason: str, marked_now: bool = False) -> None:
        super().__init__(message)
        self.reason = reason
        self.marked_now = marked_now
        """True for the one refresh that found the pair gone and marked the portal."""
