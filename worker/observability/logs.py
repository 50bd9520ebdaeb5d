"""Log output: JSON lines off a terminal, readable lines on one; secrets scrubbed last.

Libraries log through ``logging.getLogger(__name__)`` with structured ``extra`` fields
(command_id, command_type, portal, line, verdict, outcome …); only the entry point calls
:func:`configure`. The identity fields (:data:`IDENTITY`) are written even when None (JSON
``null``: "not known", e.g. the line of a create that failed), so a query for them never
has to tell "absent" from "unknown"; other None extras are left out.

Every formatted line passes through :class:`Scrubber`, which removes the known secret values
(webhook codes, tokens, client secrets; also as JSON-escaped) and anything shaped like a
credential (webhook paths, ``auth=`` parameters, ``"password": "…"`` pairs, bearer tokens,
JWTs, PEM keys), as a last line of defence behind code that never logs secrets in the first
place.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
}

IDENTITY = frozenset({"command_id", "command_type", "portal", "line"})

_CREDENTIAL_FIELDS = r"(?:password|passwd|client_secret|access_token|refresh_token|private_key)"

# (pattern, replacement, substrings of the lowered line without which it cannot match)
_PATTERNS: list[tuple[re.Pattern[str], str, tuple[str, ...]]] = [
    (re.compile(r"(/rest/\d+/)[^/\s\"']+"), r"\1***", ("/rest/",)),
    # "password": "…" in JSON (also as escaped inside a JSON string) and 'password': '…'
    (
        re.compile(
            r"""((?:\\?["'])""" + _CREDENTIAL_FIELDS + r"""(?:\\?["'])\s*[:=]\s*(?:\\?["']))"""
            r"""(?:[^"'\\]|\\[^"'])*""",
            re.I,
        ),
        r"\1***",
        ("password", "passwd", "secret", "token", "private_key"),
    ),
    (
        re.compile(
            r"((?:auth|access_token|refresh_token|client_secret|password)=)[^&\s\"']+", re.I
        ),
        r"\1***",
        ("auth=", "token=", "secret=", "password="),
    ),
    (re.compile(r"(Bearer\s+)[A-Za-z0-9._~+/=-]+", re.I), r"\1***", ("bearer",)),
    (
        re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S),
        "***",
        ("-----begin",),
    ),
    (re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+"), "***", ("eyj",)),
]


class Scrubber:
    """Removes secret values and credential-shaped substrings from text."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        values = {s for s in secrets if len(s) >= 4}
        # A secret with a quote, a backslash or a control character appears JSON-escaped
        # in a JSON line (and doubly escaped in a JSON string inside one).
        escaped = {json.dumps(s)[1:-1] for s in values}
        escaped |= {json.dumps(e)[1:-1] for e in escaped}
        self._secrets = sorted(values | escaped, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, "***")
        lowered = text.lower()
        for pattern, replacement, triggers in _PATTERNS:
            # most lines carry none of the trigger substrings: the regex is skipped then
            if any(t in lowered for t in triggers):
                text = pattern.sub(replacement, text)
        return text


def _extras(record: logging.LogRecord, *, keep_identity: bool = True) -> dict[str, Any]:
    return {
        key: value
        for key, value in vars(record).items()
        if key not in _STANDARD
        and not key.startswith("_")
        and (value is not None or (keep_identity and key in IDENTITY))
    }


class JsonFormatter(logging.Formatter):
    def __init__(self, scrub: Scrubber) -> None:
        super().__init__()
        self._scrub = scrub

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **_extras(record),
        }
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            payload["stack"] = self.formatStack(record.stack_info)
        return self._scrub(json.dumps(payload, default=str, ensure_ascii=False))


class ConsoleFormatter(logging.Formatter):
    def __init__(self, scrub: Scrubber) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")
        self._scrub = scrub

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = _extras(record, keep_identity=False)
        if extras:
            line += "  " + " ".join(f"{k}={v}" for k, v in extras.items())
        return self._scrub(line)


def configure(
    *, level: str = "INFO", fmt: str = "auto", secrets: Iterable[str] = (), stream: Any = None
) -> Scrubber:
    """Configure the root logger once, at the entry point; returns the scrubber it uses.

    ``secrets`` are values to mask wherever they appear (``sipline run`` passes every secret
    its settings hold); credential-shaped text is masked whatever the list holds.
    """
    if stream is None:
        stream = sys.stderr
    scrub = Scrubber(secrets)
    use_json = fmt == "json" or (fmt == "auto" and not getattr(stream, "isatty", lambda: False)())
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter(scrub) if use_json else ConsoleFormatter(scrub))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    logging.getLogger("aiormq").setLevel(max(root.level, logging.WARNING))
    logging.getLogger("aio_pika").setLevel(max(root.level, logging.WARNING))
    logging.getLogger("alembic").setLevel(max(root.level, logging.WARNING))  # the store logs
    return scrub
