"""What the fleet reports about itself: a port, so that :mod:`worker.fleet` knows no metrics
library (:class:`worker.observability.metrics.Metrics` implements it)."""

from __future__ import annotations

from typing import Protocol


class FleetObserver(Protocol):
    def fleet_routed(self, outcome: str, seconds: float) -> None:
        """One delivery left the command queue: ``routed`` (its copy is confirmed in its
        shard, then it was acked; ``seconds`` from its arrival at the router to the ack) or
        ``rejected`` (it did not parse: the processor dead-lettered it)."""

    def fleet_handover(self, direction: str) -> None:
        """This process ``took`` a shard (subscribed) or ``gave`` one away (drained, closed)."""

    def fleet_state(self, *, shards: int, members: int) -> None:
        """The shards this process holds now, and the live members it sees."""
