"""The tick: the message that stands for a portal's next scheduled sweep.

This module alone knows its wire form: a small JSON body ``{"portal", "generation",
"due"}`` (due in epoch seconds) and a ``message_id`` of ``tick:<generation>:<portal>``.
A tick is not a command: it never reaches ``<p>.commands``, and its body holds no secret.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass

from aio_pika import DeliveryMode, Message

CONTENT_TYPE = "application/json"
SCHEDULE_SOURCE = "urn:sipline:schedule"  # the `source` of every scheduled portal.sweep
_MAX_ID = 128


class BadTick(ValueError):
    """A message on the tick queue that is not a tick (dropped)."""


@dataclass(frozen=True, slots=True)
class Tick:
    portal: str
    generation: int
    due: float

    def message(self, *, expiration: float | None = None) -> Message:
        body = {"portal": self.portal, "generation": self.generation, "due": self.due}
        return Message(
            json.dumps(body, separators=(",", ":")).encode(),
            content_type=CONTENT_TYPE,
            message_id=f"tick:{self.generation}:{self.portal}"[:255],
            delivery_mode=DeliveryMode.PERSISTENT,
            expiration=None if expiration is None else max(round(expiration * 1000), 1) / 1000,
            app_id="sipline",
        )

    def sweep_id(self) -> str:
        """The id of the ``portal.sweep`` this tick fires: the same for every copy of the
        tick, so a sweep published twice (a crash between publish and ack) is one command."""
        plain = f"schedule:{self.generation}:{self.portal}"
        if len(plain) <= _MAX_ID:
            return plain
        digest = hashlib.blake2b(self.portal.encode(), digest_size=16).hexdigest()
        return f"schedule:{self.generation}:{digest}"


def parse(body: bytes) -> Tick:
    """A tick from its body; :class:`BadTick` for anything else."""
    try:
        raw = json.loads(body)
        portal, generation, due = raw["portal"], raw["generation"], raw["due"]
    except (ValueError, TypeError, KeyError) as exc:
        raise BadTick("not a tick") from exc
    if not (isinstance(portal, str) and 0 < len(portal) <= 253):
        raise BadTick("portal")
    if not (isinstance(generation, int) and not isinstance(generation, bool) and generation > 0):
        raise BadTick("generation")
    if not (isinstance(due, int | float) and not isinstance(due, bool) and math.isfinite(due)):
        raise BadTick("due")
    return Tick(portal, generation, float(due))
