"""Which events an auditor asked for: every given criterion must hold.

``types`` are globs (``line.*``); ``line`` matches ``data.config_id`` or the subject
``lines/N``; ``correlation_id`` matches ``correlationid`` or ``causationid`` (the id of the
command behind the event); ``since`` (inclusive) and ``until`` (exclusive) compare the
event's own ``time``, so an event without a readable time never matches them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from fnmatch import fnmatchcase

from worker.ops.events.record import LoggedEvent


@dataclass(frozen=True, slots=True)
class EventFilter:
    types: tuple[str, ...] = ()
    portal: str | None = None
    line: int | None = None
    verdicts: tuple[str, ...] = ()
    correlation_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    @property
    def active(self) -> bool:
        """True when any criterion is set (an undecodable record matches none then)."""
        return bool(self._checks())

    def matches(self, record: LoggedEvent) -> bool:
        return all(check(record) for check in self._checks())

    def _checks(self) -> list[Callable[[LoggedEvent], bool]]:
        checks: list[Callable[[LoggedEvent], bool]] = []
        if self.types:
            checks.append(self._type)
        if self.portal is not None:
            checks.append(lambda r: (r.portal or "").lower() == (self.portal or "").lower())
        if self.line is not None:
            checks.append(lambda r: r.line == self.line)
        if self.verdicts:
            checks.append(lambda r: r.verdict in self.verdicts)
        if self.correlation_id is not None:
            checks.append(self._correlated)
        if self.since is not None or self.until is not None:
            checks.append(self._in_window)
        return checks

    def _type(self, record: LoggedEvent) -> bool:
        kind = record.type
        return kind is not None and any(fnmatchcase(kind, glob) for glob in self.types)

    def _correlated(self, record: LoggedEvent) -> bool:
        return self.correlation_id in (record.correlationid, record.causationid)

    def _in_window(self, record: LoggedEvent) -> bool:
        moment = record.time
        if moment is None:
            return False
        if self.since is not None and moment < self.since:
            return False
        return self.until is None or moment < self.until
