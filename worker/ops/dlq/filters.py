"""Which dead letters an operator selected (the same filters for list, replay, export, purge).

Every filter given must match (AND); several values of one filter are alternatives (OR).
Types and portals take shell patterns (``line.*``); reasons and ids are exact.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from fnmatch import fnmatchcase

from worker.ops.dlq.masking import masked_body
from worker.ops.dlq.model import DeadLetter

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$", re.IGNORECASE)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


MAX_DURATION = timedelta(days=36_600)  # a hundred years: more is a typo, not a filter


def parse_duration(value: str) -> timedelta:
    """``90s``, ``30m``, ``2h``, ``7d``, ``1w`` as a timedelta (at most a hundred years)."""
    match = _DURATION.match(value)
    if match is None:
        raise ValueError(f"not a duration: {value!r} (expected e.g. 30m, 2h, 7d)")
    seconds = float(match.group(1)) * _UNITS[match.group(2).lower()]
    if seconds > MAX_DURATION.total_seconds():
        raise ValueError(f"{value!r} is too long (at most {MAX_DURATION.days}d)")
    return timedelta(seconds=seconds)


@dataclass(frozen=True, slots=True)
class Filter:
    """A selection of dead letters; the empty filter selects all."""

    reasons: frozenset[str] = frozenset()
    types: frozenset[str] = frozenset()
    portals: frozenset[str] = frozenset()
    ids: frozenset[str] = frozenset()
    older_than: timedelta | None = None
    newer_than: timedelta | None = None
    text: str | None = None

    def matches(self, letter: DeadLetter, now: datetime) -> bool:
        return (
            _exact(self.reasons, letter.reason)
            and _exact(self.ids, letter.id)
            and _pattern(self.types, letter.type)
            and _pattern(self.portals, letter.portal)
            and self._age_matches(letter, now)
            and self._text_matches(letter)
        )

    def _age_matches(self, letter: DeadLetter, now: datetime) -> bool:
        if self.older_than is None and self.newer_than is None:
            return True
        age = letter.age(now)
        if age is None:
            return False
        if self.older_than is not None and age < self.older_than:
            return False
        return self.newer_than is None or age <= self.newer_than

    def _text_matches(self, letter: DeadLetter) -> bool:
        """A case-insensitive substring of the masked body or the error message."""
        if not self.text:
            return True
        needle = self.text.lower()
        haystacks = [masked_body(letter.raw.body), letter.error_message or ""]
        return any(needle in hay.lower() for hay in haystacks)


def _exact(wanted: frozenset[str], value: str) -> bool:
    return not wanted or value in wanted


def _pattern(wanted: frozenset[str], value: str | None) -> bool:
    if not wanted:
        return True
    return value is not None and any(fnmatchcase(value, p) for p in wanted)
