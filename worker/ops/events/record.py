"""One stored event as an auditor sees it: parsed against the contract, or kept raw.

A record that does not parse is never dropped: it is shown with the reason (a warning
marker), filtered on whatever fields its JSON still has. Events carry no secrets by
contract; even so, nothing from a field named like ``password`` is ever shown
(:func:`redact`, :func:`redact_text`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from contracts.events import EVENTS, Event

REDACTED = "[redacted]"
_LINE_SUBJECT = re.compile(r"^lines/(\d+)$")
_PASSWORD_PAIR = re.compile(r'("[^"]*password[^"]*"\s*:\s*)("(?:[^"\\]|\\.)*"|[^,}\s]+)', re.I)


def is_secret_key(key: str) -> bool:
    return "password" in key.lower()


def redact(value: Any) -> Any:
    """A copy of a JSON value with every ``*password*`` field's value replaced."""
    if isinstance(value, dict):
        return {k: REDACTED if is_secret_key(str(k)) else redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def redact_text(text: str) -> str:
    """Raw text with anything shaped like ``"…password…": value`` masked."""
    return _PASSWORD_PAIR.sub(lambda m: f'{m.group(1)}"{REDACTED}"', text)


def _problem(exc: ValidationError) -> str:
    first = exc.errors(include_input=False, include_url=False)[0]
    where = ".".join(str(p) for p in first["loc"]) or "(event)"
    more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{where}: {first['msg']}{more}"


def _validate(document: dict[str, Any], body: bytes) -> tuple[Event | None, str | None]:
    kind = document.get("type")
    model = EVENTS.get(kind) if isinstance(kind, str) else None
    if model is None:
        return None, f"unknown event type {kind!r}"
    try:
        return model.model_validate_json(body), None
    except ValidationError as exc:
        return None, _problem(exc)


@dataclass(frozen=True, slots=True)
class LoggedEvent:
    """A stream record: its offset, the JSON document, the contract model when it parses."""

    offset: int
    body: bytes
    document: dict[str, Any] | None
    event: Event | None
    problem: str | None

    @classmethod
    def parse(cls, offset: int, body: bytes) -> LoggedEvent:
        try:
            decoded = json.loads(body)
        except (UnicodeDecodeError, ValueError):
            return cls(offset, body, None, None, "not JSON")
        if not isinstance(decoded, dict):
            return cls(offset, body, None, None, "not a JSON object")
        event, problem = _validate(decoded, body)
        return cls(offset, body, decoded, event, problem)

    @property
    def valid(self) -> bool:
        return self.event is not None

    def _text(self, key: str) -> str | None:
        value = (self.document or {}).get(key)
        return value if isinstance(value, str) else None

    def _data(self) -> dict[str, Any]:
        data = (self.document or {}).get("data")
        return data if isinstance(data, dict) else {}

    @property
    def type(self) -> str | None:
        return self._text("type")

    @property
    def portal(self) -> str | None:
        return self._text("portal")

    @property
    def subject(self) -> str | None:
        return self._text("subject")

    @property
    def correlationid(self) -> str | None:
        return self._text("correlationid")

    @property
    def causationid(self) -> str | None:
        return self._text("causationid")

    @property
    def time(self) -> datetime | None:
        if self.event is not None:
            return self.event.time.astimezone(UTC)
        text = self._text("time")
        try:
            moment = datetime.fromisoformat(text) if text else None
        except ValueError:
            return None
        if moment is None or moment.tzinfo is None:
            return None
        return moment.astimezone(UTC)

    @property
    def line(self) -> int | None:
        """The line's config id: ``data.config_id``, else the ``lines/N`` subject."""
        config_id = self._data().get("config_id")
        if isinstance(config_id, int) and not isinstance(config_id, bool):
            return config_id
        match = _LINE_SUBJECT.match(self.subject or "")
        return int(match.group(1)) if match else None

    @property
    def verdict(self) -> str | None:
        verdict = self._data().get("verdict")
        return verdict if isinstance(verdict, str) else None

    @property
    def data(self) -> dict[str, Any]:
        """``data`` with secrets redacted, for display."""
        return dict(redact(self._data()))

    def shown(self) -> dict[str, Any]:
        """The full event for output (JSON Lines): offset, the event, and a warning if any."""
        out: dict[str, Any] = {"offset": self.offset}
        if self.document is not None:
            out["event"] = redact(self.document)
        else:
            out["raw"] = redact_text(self.body.decode("utf-8", errors="replace"))
        if self.problem is not None:
            out["warning"] = f"does not parse: {self.problem}"
        return out
