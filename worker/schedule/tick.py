"""The tick: the message that stands for a portal's next scheduled sweep.

This module alone knows its wire form: a small JSON body ``{"portal", "generation",
"due"}`` (due in epoch seconds) and a ``message_id`` of ``tick:<generation>:<portal>``.
A tick is not a command: it never reaches ``<p>.commands``, and its body holds no secret.

A *bundle* carries several ticks due within a fraction of a second of each other in one
message: ``{"ticks": [{"portal", "generation", "due"}, …]}`` (``message_id``
``ticks:<count>:<generation>:<portal>`` of its first tick). Each tick in it is still its
portal's one pending tick, fired or dropped on its own by the compare-and-set; the message
only carries them together, so a process wakes once for all of them. Both forms are read.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass

from aio_pika import DeliveryMode, Message

CONTENT_TYPE = "application/json"
SCHEDULE_SOURCE = "urn:sipline:schedule"  # the `source` of every scheduled portal.sweep
_MAX_ID = 128
MAX_BUNDLE = 256  # ticks one message may carry


class BadTick(ValueError):
    """A message on the tick queue that is not a tick (dropped)."""


@dataclass(frozen=True, slots=True)
class Tick:
    portal: str
    generation: int
    due: float

    def message(self, *, expiration: float | None = None) -> Message:
        body = {"portal": self.portal, "generation": self.generation, "due": self.due}
        return _message(body, f"tick:{self.generation}:{self.portal}", expiration)

    def sweep_id(self) -> str:
        """The id of the ``portal.sweep`` this tick fires: the same for every copy of the
        tick, so a sweep published twice (a crash between publish and ack) is one command."""
        plain = f"schedule:{self.generation}:{self.portal}"
        if len(plain) <= _MAX_ID:
            return plain
        digest = hashlib.blake2b(self.portal.encode(), digest_size=16).hexdigest()
        return f"schedule:{self.generation}:{digest}"


def message(ticks: Sequence[Tick], *, expiration: float | None = None) -> Message:
    """One tick's message, or a bundle's for several."""
    if len(ticks) == 1:
        return ticks[0].message(expiration=expiration)
    first = ticks[0]
    body = {
        "ticks": [{"portal": t.portal, "generation": t.generation, "due": t.due} for t in ticks]
    }
    return _message(body, f"ticks:{len(ticks)}:{first.generation}:{first.portal}", expiration)


def _message(body: object, message_id: str, expiration: float | None) -> Message:
    return Message(
        json.dumps(body, separators=(",", ":")).encode(),
        content_type=CONTENT_TYPE,
        message_id=message_id[:255],
        delivery_mode=DeliveryMode.PERSISTENT,
        expiration=None if expiration is None else max(round(expiration * 1000), 1) / 1000,
        app_id="sipline",
    )


def parse_all(body: bytes) -> list[Tick]:
    """The ticks of a message: one tick, or a bundle's; :class:`BadTick` for anything else."""
    try:
        raw = json.loads(body)
    except ValueError as exc:
        raise BadTick("not a tick") from exc
    if isinstance(raw, dict) and "ticks" in raw:
        entries = raw["ticks"]
        if not (isinstance(entries, list) and 0 < len(entries) <= MAX_BUNDLE):
            raise BadTick("bundle")
        return [_one(entry) for entry in entries]
    return [_one(raw)]


def parse(body: bytes) -> Tick:
    """A (single) tick from its body; :class:`BadTick` for anything else."""
    try:
        raw = json.loads(body)
    except ValueError as exc:
        raise BadTick("not a tick") from exc
    return _one(raw)


def _one(raw: object) -> Tick:
    try:
        portal, generation, due = raw["portal"], raw["generation"], raw["due"]  # type: ignore[index]
    except (TypeError, KeyError) as exc:
        raise BadTick("not a tick") from exc
    if not (isinstance(portal, str) and 0 < len(portal) <= 253):
        raise BadTick("portal")
    if not (isinstance(generation, int) and not isinstance(generation, bool) and generation > 0):
        raise BadTick("generation")
    if not (isinstance(due, int | float) and not isinstance(due, bool) and math.isfinite(due)):
        raise BadTick("due")
    return Tick(portal, generation, float(due))
