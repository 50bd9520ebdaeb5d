"""The line projection: the event log, folded into the store's current state of every line.

:mod:`.changes` says what one event means for the store (pure); :mod:`.projector` reads the
event-log stream and applies it in batches, each one unit of work that also records the
stream offset it reached, so a process that dies mid-way resumes exactly where its last
commit left off and a redelivered or replayed event changes nothing.
"""

from worker.projection.changes import apply_event, apply_events
from worker.projection.projector import Batch, Projector

__all__ = ["Batch", "Projector", "apply_event", "apply_events"]
