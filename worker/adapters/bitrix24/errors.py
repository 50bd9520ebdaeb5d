"""Bitrix24 error codes mapped onto the worker's error tree (``worker.errors``) and the
domain's refusals (``worker.domain.errors``: a taken title, a missing line or registration).

The mapping is by code, not HTTP status, as the REST docs advise; the status decides only
for codes the table does not know.  See ``api-facts.md`` for where each row comes from.
"""

from __future__ import annotations

from collections.abc import Mapping

from worker.domain.errors import LineNotFound, RegistrationNotFound, TitleTaken
from worker.errors import (
    AuthorizationError,
    PermanentError,
    RateLimited,
    SiplineError,
    TransientError,
    UpstreamUnavailable,
)


class TokenExpired(AuthorizationError):
    """``401 expired_token``: the client refreshes the OAuth token and retries.

    It only escapes the client when a token it refreshed from is refused again, or after
    ``MAX_REFRESHES`` tokens in one call all expired.
    """

    code = "expired_token"


QUERY_LIMIT_EXCEEDED = "QUERY_LIMIT_EXCEEDED"
OPERATION_TIME_LIMIT = "OPERATION_TIME_LIMIT"

ERROR_CLASSES: Mapping[str, type[SiplineError]] = {
    # rate limits: slow down
    QUERY_LIMIT_EXCEEDED: RateLimited,
    OPERATION_TIME_LIMIT: RateLimited,
    # authorisation
    "expired_token": TokenExpired,
    "invalid_token": AuthorizationError,
    "NO_AUTH_FOUND": AuthorizationError,
    "insufficient_scope": AuthorizationError,
    "INVALID_CREDENTIALS": AuthorizationError,
    "user_access_error": AuthorizationError,
    "ACCESS_DENIED": AuthorizationError,
    "invalid_grant": AuthorizationError,
    "invalid_client": AuthorizationError,
    # the portal itself
    "ERROR_METHOD_NOT_FOUND": PermanentError,
    "OVERLOAD_LIMIT": PermanentError,
    "INTERNAL_SERVER_ERROR": UpstreamUnavailable,
    "ERROR_UNEXPECTED_ANSWER": UpstreamUnavailable,
    # voximplant.sip.*: the portal refused this change
    "CHECK_FIELDS_ERROR": PermanentError,
    "TITLE_EXISTS": TitleTaken,
    "MAX_CLOUD_PBX": PermanentError,
    "ERROR_NOT_FOUND": LineNotFound,
    "REG_ID_NOT_FOUND": RegistrationNotFound,
    # batch
    "ERROR_BATCH_LENGTH_EXCEEDED": PermanentError,
    "ERROR_BATCH_METHOD_NOT_ALLOWED": PermanentError,
}

_BY_UPPER = {code.upper(): cls for code, cls in ERROR_CLASSES.items()}

HINTS: Mapping[str, str] = {
    "invalid_grant": "the refresh token was refused: the application must be authorised again",
    "OVERLOAD_LIMIT": "the portal is blocked by Bitrix24 support until the block is lifted",
}


def error_class(code: str, status: int | None) -> type[SiplineError]:
    """The error class for an upstream code; the HTTP status decides unknown codes."""
    known = ERROR_CLASSES.get(code) or _BY_UPPER.get(code.upper())
    if known is not None:
        return known
    if status is None:
        return PermanentError
    if status == 429:
        return RateLimited
    if status >= 500:
        return UpstreamUnavailable
    if status in (401, 403):
        return AuthorizationError
    return PermanentError


def upstream_error(
    *,
    portal: str,
    method: str,
    code: str,
    description: str,
    status: int | None,
    retry_after: float | None = None,
) -> SiplineError:
    """Build the mapped error; the caller has already scrubbed ``description``."""
    cls = error_class(code, status)
    hint = HINTS.get(code)
    detail = f"{description} ({hint})" if hint else description
    where = f"Bitrix24 {method} on {portal}"
    message = f"{where}: {code}" + (f": {detail}" if detail else "")
    if issubclass(cls, TransientError):
        return cls(message, code=code, retry_after=retry_after)
    return cls(message, code=code)
