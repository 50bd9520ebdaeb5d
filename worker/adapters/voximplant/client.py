"""The Voximplant Management API client: the Voximplant side of every line.

One instance per process, built in the wiring module with the process's single
``aiohttp.ClientSession`` (owned and closed by the caller).  Every request is a form POST to
``{api_url}/{Method}`` with a bearer token from the :class:`TokenSource`; errors are read
from the body first, since Voximplant reports most of them with HTTP 200, and mapped by
:mod:`worker.adapters.voximplant.errors`.  A refused token (code 100, 455, 456, or HTTP 401)
is dropped, re-signed and the request retried once; every other failure is raised for the
worker's retry policy to judge.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp

from worker.adapters.upstream import NullObserver, RequestObserver, Tally, count
from worker.adapters.voximplant.credentials import ServiceAccountCredentials
from worker.adapters.voximplant.errors import AUTH_RETRY_CODES, api_error, http_error
from worker.adapters.voximplant.models import SipRegistration, SipRegistrationFilter
from worker.adapters.voximplant.token import Clock, TokenCache, TokenSource
from worker.domain.errors import RegistrationNotFound
from worker.errors import SiplineError, UpstreamUnavailable

__all__ = ["DEFAULT_API_URL", "VoximplantClient"]

_log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://api.voximplant.com/platform_api/"
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
"""Voximplant documents no page maximum; staying at or below 1000 is the safe side."""

GET_SIP_REGISTRATIONS = "GetSipRegistrations"


class _TokenRefused(Exception):
    """Internal: the server refused the token; a new one may succeed."""

    def __init__(self, error: SiplineError) -> None:
        super().__init__(error.message)
        self.error = error


class VoximplantClient:
    """Reads SIP registrations from the Management API."""

    def __init__(
        self,
        *,
        session: aiohttp.ClientSession,
        credentials: ServiceAccountCredentials | None = None,
        tokens: TokenSource | None = None,
        api_url: str = DEFAULT_API_URL,
        connect_timeout: float = 5.0,
        total_timeout: float = 30.0,
        token_lifetime: int = 3600,
        clock: Clock = time.time,
        observer: RequestObserver | None = None,
    ) -> None:
        if tokens is None:
            if credentials is None:
                raise ValueError("VoximplantClient needs credentials or a token source")
            tokens = TokenCache(credentials=credentials, lifetime=token_lifetime, clock=clock)
        self._session = session
        self._tokens = tokens
        self._base = api_url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=total_timeout, connect=connect_timeout)
        self._observer: RequestObserver = observer if observer is not None else NullObserver()
        self._requests = 0

    def __repr__(self) -> str:
        return f"VoximplantClient(api_url={self._base!r}, requests={self._requests})"

    @property
    def requests_made(self) -> int:
        """HTTP requests sent so far, retries included."""
        return self._requests

    @property
    def signatures(self) -> int:
        """Tokens signed so far."""
        return self._tokens.signatures

    # --- GetSipRegistrations ----------------------------------------------------------
    async def iter_sip_registrations(
        self,
        filter: SipRegistrationFilter | None = None,
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        tally: Tally | None = None,
    ) -> AsyncIterator[SipRegistration]:
        """Every matching registration, page by page until a page comes back short.

        The API reports no total (``count`` is the page's length), so a last full page
        costs one more, empty, request.
        """
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be within 1..{MAX_PAGE_SIZE}")
        params = filter.to_params() if filter is not None else {}
        offset = 0
        while True:
            page = {**params, "count": str(page_size), "offset": str(offset)}
            rows = _rows(await self.call(GET_SIP_REGISTRATIONS, page, tally=tally))
            for row in rows:
                yield row
            if len(rows) < page_size:
                return
            offset += len(rows)

    async def get_sip_registration(self, reg_id: int) -> SipRegistration | None:
        """The registration with this id, or None when the account has no such registration."""
        params = SipRegistrationFilter(sip_registration_id=reg_id).to_params()
        try:
            body = await self.call(GET_SIP_REGISTRATIONS, {**params, "count": "1"})
        except RegistrationNotFound:  # code 275, "Invalid registration id"
            return None
        rows = [row for row in _rows(body) if row.sip_registration_id == reg_id]
        return rows[0] if rows else None

    # --- any method -----------------------------------------------------------------------
    async def call(
        self, method: str, params: Mapping[str, str], *, tally: Tally | None = None
    ) -> dict[str, Any]:
        """Call one Management API method; the decoded body on success.

        Every request sent (a re-signed retry too) is counted on ``tally``.
        """
        token = self._tokens.get()
        try:
            return await self._request(method, params, token, tally)
        except _TokenRefused as refused:
            _log.warning(
                "Voximplant refused the token for %s (%s); signing a new one and retrying once",
                method,
                refused.error.code,
            )
            self._tokens.invalidate(token)
        token = self._tokens.get()
        try:
            return await self._request(method, params, token, tally)
        except _TokenRefused as refused:
            self._tokens.invalidate(token)
            raise refused.error from None

    async def _request(
        self, method: str, params: Mapping[str, str], token: str, tally: Tally | None
    ) -> dict[str, Any]:
        count(tally)
        started = time.perf_counter()
        status: int | None = None
        outcome = "OK"
        try:
            status, body, retry_after = await self._post(method, params, token)
            return _interpret(method, status, _decode(body), retry_after)
        except SiplineError as exc:
            outcome = exc.code
            raise
        except _TokenRefused as refused:
            outcome = refused.error.code
            raise
        finally:
            duration = time.perf_counter() - started
            _log.debug(
                "Voximplant %s: HTTP %s, %s, %.1f ms", method, status, outcome, duration * 1e3
            )
            self._observer.on_request(
                upstream="voximplant",
                portal=None,
                method=method,
                status=status,
                code=outcome,
                duration=duration,
            )

    async def _post(
        self, method: str, params: Mapping[str, str], token: str
    ) -> tuple[int, bytes, float | None]:
        self._requests += 1
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        try:
            async with self._session.post(
                f"{self._base}/{method}", data=dict(params), headers=headers, timeout=self._timeout
            ) as response:
                body = await response.read()
                return response.status, body, _retry_after(response.headers.get("Retry-After"))
        except TimeoutError as exc:
            raise UpstreamUnavailable(
                f"Voximplant {method} timed out", code="VOXIMPLANT_TIMEOUT"
            ) from exc
        except aiohttp.ClientResponseError:
            # Not chained: its request_info holds the request headers, the token among them.
            raise UpstreamUnavailable(
                f"Voximplant {method} failed: bad response", code="VOXIMPLANT_CONNECTION"
            ) from None
        except aiohttp.ClientError as exc:
            raise UpstreamUnavailable(
                f"Voximplant {method} failed: {type(exc).__name__}", code="VOXIMPLANT_CONNECTION"
            ) from exc


def _decode(body: bytes) -> dict[str, Any] | None:
    try:
        payload = json.loads(body)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError
        return None
    return payload if isinstance(payload, dict) else None


def _error_code(error: dict[str, Any]) -> int:
    code = error.get("code")
    if isinstance(code, int) and not isinstance(code, bool):
        return code
    if isinstance(code, str) and code.strip().isdigit():
        return int(code)
    return 0  # no usable code: maps to a permanent error, VOXIMPLANT_0


def _interpret(
    method: str, status: int, payload: dict[str, Any] | None, retry_after: float | None
) -> dict[str, Any]:
    if status == 401:
        raise _TokenRefused(http_error(method, status))
    if status == 429 or status >= 500:
        raise http_error(method, status, retry_after=retry_after)
    error = payload.get("error") if payload is not None else None
    if isinstance(error, dict):
        code = _error_code(error)
        text = error.get("msg")
        exc = api_error(method, code, text if isinstance(text, str) else "")
        if code in AUTH_RETRY_CODES:
            raise _TokenRefused(exc)
        raise exc
    if payload is None or not 200 <= status < 300:
        raise http_error(method, status, retry_after=retry_after)
    return payload


def _rows(body: dict[str, Any]) -> list[SipRegistration]:
    result = body.get("result")
    if not isinstance(result, list):
        raise UpstreamUnavailable(
            f"Voximplant {GET_SIP_REGISTRATIONS} answered without a result list",
            code="VOXIMPLANT_BAD_RESPONSE",
        )
    try:
        return [SipRegistration.model_validate(row) for row in result]
    except ValueError:  # pydantic's ValidationError
        raise UpstreamUnavailable(
            f"Voximplant {GET_SIP_REGISTRATIONS} answered registrations of an unknown shape",
            code="VOXIMPLANT_BAD_RESPONSE",
        ) from None


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None
