"""What became of one request's callbacks: the route's answer and the logs read it."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Reconcile:
    """One published command: the line and the callback that caused it."""

    command_id: str
    portal: str
    config_id: int
    reg_id: int
    callback_id: int


@dataclass(slots=True)
class IntakeResult:
    """What became of one request's callbacks (ids are Voximplant's own numbers)."""

    accepted: list[int] = field(default_factory=list)
    replayed: list[int] = field(default_factory=list)
    refused: dict[int, str] = field(default_factory=dict)
    orphans: list[int] = field(default_factory=list)
    unserved: list[int] = field(default_factory=list)
    reconciles: list[Reconcile] = field(default_factory=list)

    @property
    def verified(self) -> int:
        return len(self.accepted) + len(self.replayed)

    def as_json(self) -> dict[str, object]:
        return {
            "accepted": self.accepted,
            "replayed": self.replayed,
            "refused": {str(k): v for k, v in self.refused.items()},
            "orphans": self.orphans,
            "unserved": self.unserved,
            "reconciles": len(self.reconciles),
        }
