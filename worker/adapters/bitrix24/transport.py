"""One HTTP request to a portal, and its answer turned into a body or a mapped error.

Bodies are parsed defensively: under load Bitrix24 may answer with HTML (fast_bitrix24
#216), which is transient.  aiohttp's own exceptions are not chained, as their messages can
quote the request URL, which for a webhook holds the secret code.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Mapping
from typing import Any

import aiohttp

from worker.adapters.bitrix24.auth import Auth
from worker.adapters.bitrix24.errors import OPERATION_TIME_LIMIT, upstream_error
from worker.adapters.bitrix24.redact import Redactor
from worker.adapters.upstream import RequestObserver, Tally, count
from worker.errors import SiplineError, UpstreamUnavailable

logger = logging.getLogger(__name__)

Body = dict[str, Any]


class Transport:
    """Posts JSON to one portal and counts the requests it makes."""

    def __init__(
        self,
        *,
        portal: str,
        session: aiohttp.ClientSession,
        auth: Auth,
        timeout: aiohttp.ClientTimeout,
        redactor: Redactor,
        observer: RequestObserver,
    ) -> None:
        self.portal = portal
        self._session, self._auth, self._timeout = session, auth, timeout
        self._redactor, self._observer = redactor, observer
        self.requests_made = 0

    async def post(
        self,
        method: str,
        params: Mapping[str, Any],
        *,
        token: str | None,
        secrets: Iterable[str] = (),
        tally: Tally | None = None,
    ) -> Body:
        """Send one call; return the whole JSON body of a success, raise a mapped error."""
        payload = dict(params)
        if token is not None:
            payload["auth"] = token
        started = time.monotonic()
        status: int | None = None
        code = "OK"
        self.requests_made += 1
        count(tally)
        try:
            async with self._session.post(
                self._auth.url(method), json=payload, timeout=self._timeout
            ) as resp:
                status = resp.status
                raw = await resp.read()
            return self._parse(method, status, raw, secrets)
        except SiplineError as exc:
            code = exc.code
            raise
        except (aiohttp.ClientError, TimeoutError) as exc:
            code = "TIMEOUT" if isinstance(exc, TimeoutError) else "CONNECTION_ERROR"
            raise UpstreamUnavailable(
                f"Bitrix24 {method} on {self.portal}: {code} ({type(exc).__name__})",
                code=code,
            ) from None
        finally:
            duration = time.monotonic() - started
            self._observer.on_request(
                upstream="bitrix24",
                portal=self.portal,
                method=method,
                status=status,
                code=code,
                duration=duration,
            )
            logger.debug(
                "bitrix24 POST %s -> %s %s in %.3f s",
                self._auth.masked_url(method),
                status if status is not None else "-",
                code,
                duration,
            )

    def _parse(self, method: str, status: int, raw: bytes, secrets: Iterable[str]) -> Body:
        body = _json_object(raw)
        if body is None:
            raise UpstreamUnavailable(
                f"Bitrix24 {method} on {self.portal}: HTTP {status} without a JSON body",
                code="NON_JSON_BODY",
            )
        if "error" in body:
            code = str(body["error"])
            return self._raise(method, status, code, body, secrets)
        if status >= 400 or "result" not in body:
            code = "INTERNAL_SERVER_ERROR" if status >= 500 else "ERROR_UNEXPECTED_ANSWER"
            return self._raise(method, status, code, body, secrets)
        return body

    def _raise(
        self, method: str, status: int, code: str, body: Body, secrets: Iterable[str]
    ) -> Body:
        retry_after = None
        if code == OPERATION_TIME_LIMIT:
            retry_after = reset_in(body.get("time"))
        description = self._redactor(str(body.get("error_description") or ""), secrets)
        raise upstream_error(
            portal=self.portal,
            method=method,
            code=code,
            description=description,
            status=status,
            retry_after=retry_after,
        )


def reset_in(time_block: object, default: float = 60.0) -> float:
    """Seconds until a ``time`` block's ``operating_reset_at`` (``default`` if absent)."""
    if isinstance(time_block, dict):
        try:
            return max(0.0, float(time_block["operating_reset_at"]) - time.time())
        except (KeyError, TypeError, ValueError):
            pass
    return default


def _json_object(raw: bytes) -> Body | None:
    try:
        body = json.loads(raw)
    except ValueError:
        return None
    return body if isinstance(body, dict) else None
