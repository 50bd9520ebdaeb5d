"""Dead letters grouped by reason and type: how many, since when, until when."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from worker.ops.dlq.model import DeadLetter


@dataclass(frozen=True, slots=True)
class Group:
    reason: str
    type: str
    count: int
    first_failure: datetime | None
    last_failure: datetime | None


def _earliest(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else min(a, b)


def _latest(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else max(a, b)


class Tally:
    """Counts dead letters one at a time, so a listing need not keep them."""

    def __init__(self) -> None:
        self._groups: dict[tuple[str, str], Group] = {}

    def add(self, letter: DeadLetter) -> None:
        key = (letter.reason, letter.type)
        seen = self._groups.get(key)
        first = letter.first_failure or letter.last_failure
        last = letter.last_failure or letter.first_failure
        if seen is None:
            self._groups[key] = Group(letter.reason, letter.type, 1, first, last)
            return
        self._groups[key] = Group(
            letter.reason,
            letter.type,
            seen.count + 1,
            _earliest(seen.first_failure, first),
            _latest(seen.last_failure, last),
        )

    def groups(self) -> list[Group]:
        """One group per (reason, type), largest first."""
        return sorted(self._groups.values(), key=lambda g: (-g.count, g.reason, g.type))


def summarize(letters: Iterable[DeadLetter]) -> list[Group]:
    """One group per (reason, type), largest first."""
    tally = Tally()
    for letter in letters:
        tally.add(letter)
    return tally.groups()
