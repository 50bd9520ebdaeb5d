"""Rendering upstream values inside findings: quoted, bounded, never multi-line.

Findings carry servers, logins, status codes and upstream error messages (none of them
secret); a portal can send anything in those fields, so each value is shown with ``repr``
(whitespace and control characters stay visible) and cut to a readable length.
"""

from __future__ import annotations

MAX_SHOWN = 120


def quote(value: object, limit: int = MAX_SHOWN) -> str:
    """``value`` as a short, single-line, quoted string for a finding."""
    shown = repr(value)
    if len(shown) <= limit:
        return shown
    return shown[: max(limit - 1, 1)] + "…"


def sip_detail(status_code: int | None, error_message: str | None) -> str:
    """`` (SIP 403, 'Forbidden')`` / `` (SIP 200)`` / ``""`` for a side's code and message."""
    parts: list[str] = []
    if status_code is not None:
        parts.append(f"SIP {status_code}")
    if error_message:
        parts.append(quote(error_message))
    return f" ({', '.join(parts)})" if parts else ""
