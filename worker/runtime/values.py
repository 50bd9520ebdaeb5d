"""Reading numbers and text out of values a stranger may have set (AMQP header values).

Each function returns None for anything it does not accept, and never raises, whatever it
is given: header values arrive from any publisher.
"""

from __future__ import annotations

import contextlib
import math
from decimal import Decimal
from typing import Final

NUMBER_CHARS: Final = 64  # longer text is not read as a number (int() of 5,000 digits raises)


def number(value: object) -> float | int | None:
    """A header value as a number: ints as they are, text of at most 64 characters parsed."""
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if isinstance(value, bool) or (isinstance(value, str) and len(value) > NUMBER_CHARS):
        return None
    if isinstance(value, int):
        return value
    if not isinstance(value, str | float | Decimal):
        return None
    with contextlib.suppress(ValueError):
        return int(value) if isinstance(value, str) else _float(value)
    return _float(value)


def _float(value: str | float | Decimal) -> float | None:
    try:
        found = float(value)
    except (ValueError, OverflowError):
        return None
    return found if math.isfinite(found) else None


def whole(value: object, limit: int) -> int | None:
    """A non-negative whole number, clamped to ``limit``; None when it is not one."""
    found = number(value)
    if found is None or found < 0:
        return None
    if isinstance(found, float):
        if not found.is_integer():
            return None
        if found >= limit:
            return limit
    return min(int(found), limit)


def printable(value: object, limit: int) -> str | None:
    """Non-empty printable text of at most ``limit`` bytes (bytes read as UTF-8)."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str) or not value or not value.isprintable():
        return None
    return value if len(value.encode("utf-8")) <= limit else None
