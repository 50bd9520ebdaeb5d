"""``batch``: many calls in few requests, each call's result or error kept in order.

A request holds at most 50 commands, each a URL-encoded query string (PHP's
``http_build_query`` form, so ``FILTER[TYPE]=cloud`` nests).  Keys are non-numeric
(``c0``, ``c1`` …): numeric keys make PHP answer with a JSON list (fast_bitrix24 #44).
The portal answers 200 even when commands fail: results and errors come back keyed.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from pydantic import SecretStr

from worker.adapters.bitrix24.errors import upstream_error
from worker.errors import SiplineError, TransientError

MAX_COMMANDS = 50


@dataclass(frozen=True, slots=True)
class BatchCall:
    """One method call to send inside a batch."""

    method: str
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CallOutcome:
    """What became of one call: its ``result`` (and paging), or the mapped ``error``."""

    result: Any = field(default=None, repr=False)  # raw: may hold a password
    error: SiplineError | None = None
    total: int | None = None
    next: int | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def encode_query(params: Mapping[str, Any]) -> str:
    """PHP-style query string: nested mappings and lists become ``KEY[sub]=value``."""
    pairs: list[tuple[str, str]] = []
    for key, value in params.items():
        _flatten(str(key), value, pairs)
    return urlencode(pairs)


def _flatten(prefix: str, value: object, out: list[tuple[str, str]]) -> None:
    if isinstance(value, Mapping):
        for key, item in value.items():
            _flatten(f"{prefix}[{key}]", item, out)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _flatten(f"{prefix}[{index}]", item, out)
    elif isinstance(value, bool):
        out.append((prefix, "1" if value else "0"))
    elif isinstance(value, SecretStr):
        out.append((prefix, value.get_secret_value()))
    elif value is not None:  # PHP drops nulls too
        out.append((prefix, str(value)))


def chunked(calls: Sequence[BatchCall], size: int = MAX_COMMANDS) -> Iterator[Sequence[BatchCall]]:
    """Split the calls into requests of at most ``size`` commands."""
    size = max(1, min(size, MAX_COMMANDS))
    for start in range(0, len(calls), size):
        yield calls[start : start + size]


def command_key(index: int) -> str:
    return f"c{index}"


def commands(chunk: Sequence[BatchCall]) -> dict[str, str]:
    """The ``cmd`` map of one batch request."""
    return {
        command_key(i): f"{call.method}?{encode_query(call.params)}" for i, call in enumerate(chunk)
    }


def _keyed(value: object) -> Mapping[str, Any]:
    """PHP sends an empty map as ``[]``, and a map with keys 0..n as a list."""
    if isinstance(value, Mapping):
        return value
    if isinstance(value, list):
        return {str(i): item for i, item in enumerate(value)}
    return {}


def _int_or_none(value: object) -> int | None:
    try:
        return None if value is None or value == "" else int(str(value))
    except ValueError:
        return None


def outcomes(
    *,
    portal: str,
    chunk: Sequence[BatchCall],
    result: object,
    redact: Any,
) -> list[CallOutcome]:
    """Turn a batch's ``result`` block into one outcome per call, in the calls' order."""
    block = _keyed(result)
    results, errors = _keyed(block.get("result")), _keyed(block.get("result_error"))
    totals, nexts = _keyed(block.get("result_total")), _keyed(block.get("result_next"))
    out: list[CallOutcome] = []
    for index, call in enumerate(chunk):
        key = command_key(index)
        if key in errors:
            out.append(CallOutcome(error=_error(portal, call.method, errors[key], redact)))
        elif key in results:
            out.append(
                CallOutcome(
                    result=results[key],
                    total=_int_or_none(totals.get(key)),
                    next=_int_or_none(nexts.get(key)),
                )
            )
        else:  # halted before this command ran
            out.append(CallOutcome(error=_error(portal, call.method, {}, redact)))
    return out


def _error(portal: str, method: str, body: object, redact: Any) -> SiplineError:
    fields = body if isinstance(body, Mapping) else {}
    code = str(fields.get("error") or "")
    if not code:  # never ran: retrying may well succeed
        return TransientError(
            f"Bitrix24 {method} on {portal}: not run, the batch halted earlier",
            code="BATCH_NOT_RUN",
        )
    description = redact(str(fields.get("error_description") or ""))
    return upstream_error(
        portal=portal, method=method, code=code, description=description, status=None
    )
