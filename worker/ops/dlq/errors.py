"""Errors of the dead-letter tooling, under the project's one root."""

from __future__ import annotations

from worker.errors import SiplineError


class DlqError(SiplineError):
    """The operation cannot go on (topology missing, a bad file, a refused publish)."""

    code = "DLQ_ERROR"
