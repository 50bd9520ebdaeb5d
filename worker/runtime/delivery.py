"""One delivery as the processor sees it, from arrival to its outcome.

The message, its checked headers (``worker.runtime.headers``), the command once parsed, and
the :class:`Facts` a rejection or a log line may name. The facts are worked out once, and
only when something needs them; a body the worker refused as too large is never parsed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from aio_pika.abc import AbstractIncomingMessage

from contracts import Command
from contracts.envelope import PORTAL_PATTERN
from worker.errors import SiplineError
from worker.runtime.headers import Received

_PORTAL = re.compile(PORTAL_PATTERN)


@dataclass(frozen=True, slots=True)
class Facts:
    """What a rejection and a log line may say about a delivery: printable ids, a
    domain-shaped portal, an integer config id; never a data value."""

    command_id: str | None
    command_type: str | None
    correlation: str | None
    portal: str | None
    line: int | None


class Delivery:
    """A delivery being processed; ``command`` is set once the body has parsed."""

    __slots__ = ("_facts", "_facts_limit", "command", "message", "received")

    def __init__(
        self, message: AbstractIncomingMessage, received: Received, *, facts_limit: int
    ) -> None:
        self.message = message
        self.received = received
        self.command: Command | None = None
        self._facts: Facts | None = None
        self._facts_limit = facts_limit

    @property
    def attempt(self) -> int:
        return self.received.attempt

    @property
    def routing_key(self) -> str:
        return self.message.routing_key or ""

    def facts(self) -> Facts:
        if self._facts is None:
            command = self.command
            if command is not None:
                self._facts = Facts(
                    command.id,
                    command.MESSAGE_TYPE,
                    command.correlationid,
                    command.portal,
                    getattr(command.data, "config_id", None),
                )
            else:
                self._facts = _raw_facts(self.message, self._facts_limit)
        return self._facts

    def log_fields(
        self,
        outcome: str,
        *,
        error: SiplineError | None = None,
        line: int | None = None,
        verdict: str | None = None,
        reason: str | None = None,
    ) -> dict[str, Any]:
        """The fields of an outcome line; ``line`` is the config id, from the command or, for
        a create, the one given (from the event that names the new line; None while unknown).
        """
        facts = self.facts()
        fields: dict[str, Any] = {
            "command_id": facts.command_id,
            "command_type": facts.command_type,
            "portal": facts.portal,
            "line": facts.line,
            "outcome": outcome,
            "attempt": self.received.attempt,
        }
        if fields["line"] is None:
            fields["line"] = line
        if verdict is not None:
            fields["verdict"] = verdict
        if error is not None:
            fields["error_code"] = error.code
            fields["error"] = error.message
        if reason is not None:
            fields["reason"] = reason
        return fields


def _safe_id(value: object) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    return value[:128] if value.isprintable() else None


def _raw_facts(message: AbstractIncomingMessage, limit: int) -> Facts:
    """The facts of a delivery that never became a command (its body read once, if small)."""
    decoded: object = None
    if len(message.body) <= limit:
        try:
            decoded = json.loads(message.body)
        except (ValueError, RecursionError):
            decoded = None
    body: dict[str, Any] = decoded if isinstance(decoded, dict) else {}
    portal = body.get("portal")
    data = body.get("data")
    line = data.get("config_id") if isinstance(data, dict) else None
    return Facts(
        # the publisher's own id (the body's) first: aiormq invents a message-id when none
        # was set, and the rejection must name the command the publisher knows
        command_id=_safe_id(body.get("id")) or _safe_id(message.message_id),
        command_type=_safe_id(body.get("type")) or _safe_id(message.routing_key),
        correlation=_safe_id(body.get("correlationid")) or _safe_id(message.correlation_id),
        portal=(
            portal.lower()
            if isinstance(portal, str) and len(portal) <= 253 and _PORTAL.match(portal)
            else None
        ),
        line=line if isinstance(line, int) and not isinstance(line, bool) else None,
    )
