"""``sipline events``: read the audit trail (the ``<prefix>.events.log`` stream).

::

    positions  --from / --since text → a stream position or a time      (pure)
    reader     the stream, from a position, until caught up or cancelled (AMQP)
    record     one stored event: parsed, or kept raw with the reason       (pure)
    filters    which records an auditor asked for                          (pure)
    render     a rich table or JSON Lines, secrets never printed           (pure)

Only :mod:`worker.ops.events.reader` does I/O; the CLI (``worker.cli.events``) wires them.
"""

from __future__ import annotations

from worker.ops.events.filters import EventFilter
from worker.ops.events.positions import Start, parse_start, parse_time
from worker.ops.events.reader import EventLogMissing, StreamReader, StreamRecord
from worker.ops.events.record import LoggedEvent

__all__ = [
    "EventFilter",
    "EventLogMissing",
    "LoggedEvent",
    "Start",
    "StreamReader",
    "StreamRecord",
    "parse_start",
    "parse_time",
]
