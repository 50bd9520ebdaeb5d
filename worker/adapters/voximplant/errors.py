"""Voximplant's error codes and HTTP statuses, mapped onto the project's error tree.

::

    code / status               class                    what the worker does
    100, 455, 456, HTTP 401     (re-sign, retry once)    then AuthorizationError
    104, 433, 447, 454, 403     AuthorizationError       an operator fixes the key or role
    340, HTTP 429               RateLimited              retry later
    HTTP 5xx, non-JSON body,
    reset, timeout              UpstreamUnavailable      retry later
    275                         RegistrationNotFound     (a PermanentError) none such
    101, 103, others            PermanentError           do not retry

Messages carry the method, the code and Voximplant's short text with anything shaped like
a JWT removed: a token must never reach an event or a log line through an error.
"""

from __future__ import annotations

import re

from worker.domain.errors import RegistrationNotFound
from worker.errors import (
    AuthorizationError,
    PermanentError,
    RateLimited,
    SiplineError,
    UpstreamUnavailable,
)

__all__ = ["AUTH_RETRY_CODES", "api_error", "http_error", "redact"]

AUTH_RETRY_CODES = frozenset({100, 455, 456})
"""Codes a freshly signed token may cure: bad/unknown token, clock skew, expiry."""

_AUTHORIZATION = frozenset({*AUTH_RETRY_CODES, 104, 433, 447, 454})
_RATE_LIMITED = frozenset({340})
INVALID_REGISTRATION_ID = 275
""""Invalid registration id": the account has no such registration."""
_JWT_LIKE = re.compile(r"[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*")
_MAX_TEXT = 200


def redact(text: str) -> str:
    """Remove anything that looks like a JWT and cap the length."""
    return _JWT_LIKE.sub("[redacted]", text)[:_MAX_TEXT]


def api_error(method: str, code: int, text: str) -> SiplineError:
    """The error for an ``{"error": {"code", "msg"}}`` body."""
    message = f"Voximplant {method} failed with code {code}: {redact(text)}"
    tag = f"VOXIMPLANT_{code}"
    if code in _AUTHORIZATION:
        return AuthorizationError(message, code=tag)
    if code in _RATE_LIMITED:
        return RateLimited(message, code=tag)
    if code == INVALID_REGISTRATION_ID:
        return RegistrationNotFound(message, code=tag)
    return PermanentError(message, code=tag)


def http_error(method: str, status: int, *, retry_after: float | None = None) -> SiplineError:
    """The error for a status that came without a usable Voximplant error body."""
    message = f"Voximplant {method} answered HTTP {status}"
    tag = f"VOXIMPLANT_HTTP_{status}"
    if status == 429:
        return RateLimited(message, code=tag, retry_after=retry_after)
    if status >= 500 or status == 408:
        return UpstreamUnavailable(message, code=tag, retry_after=retry_after)
    if status in (401, 403):
        return AuthorizationError(message, code=tag)
    if 200 <= status < 300:
        return UpstreamUnavailable(f"{message} with a body that is not JSON", code=tag)
    return PermanentError(message, code=tag)
