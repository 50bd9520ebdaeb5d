"""Where to start reading, and points in time, as an operator types them.

``--from`` takes ``first``, ``last`` (the last chunk written), ``next`` (only what is written
from now on), a stream offset (``1234``), an ISO 8601 time (``2026-11-23T10:15:00Z``; a time
without a zone is UTC) or a duration ago (``90s``, ``15m``, ``2h``, ``7d``, ``1w``, ``1h30m``).
``--since`` and ``--until`` take the last two forms.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Literal, TypeAlias

Start: TypeAlias = Literal["first", "last", "next"] | int | datetime

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"^(?:\d+[smhdw])+$")
_PART = re.compile(r"(\d+)([smhdw])")
_NAMED: dict[str, Start] = {"first": "first", "last": "last", "next": "next"}


MAX_AGO = timedelta(days=36_600)  # a hundred years: more is a typo
MAX_OFFSET = 2**63 - 1  # a stream offset is a signed 64-bit integer


def parse_duration(text: str) -> timedelta | None:
    """``2h`` → two hours; None when ``text`` is not a duration; too long: ``ValueError``."""
    compact = text.strip().lower()
    if not _DURATION.match(compact):
        return None
    seconds = sum(int(n) * _UNITS[unit] for n, unit in _PART.findall(compact))
    if seconds > MAX_AGO.total_seconds():
        raise ValueError(f"{text!r} is too long ago (at most {MAX_AGO.days}d)")
    return timedelta(seconds=seconds)


def parse_time(text: str, *, now: datetime) -> datetime:
    """An ISO 8601 time (naive means UTC) or a duration before ``now``; aware, in UTC."""
    ago = parse_duration(text)
    if ago is not None:
        return now - ago
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"{text!r} is neither an ISO 8601 time nor a duration like 15m, 2h or 7d"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def parse_start(text: str, *, now: datetime) -> Start:
    """The ``--from`` value: a named position, an offset, or a time."""
    word = text.strip().lower()
    if word in _NAMED:
        return _NAMED[word]
    if word.isdigit():
        if int(word) > MAX_OFFSET:
            raise ValueError(f"--from {text!r}: a stream offset is at most {MAX_OFFSET}")
        return int(word)
    try:
        return parse_time(text, now=now)
    except ValueError as exc:
        if "too long" in str(exc):
            raise
        raise ValueError(
            f"--from {text!r}: expected first, last, next, an offset, "
            "an ISO 8601 time or a duration like 2h"
        ) from None
