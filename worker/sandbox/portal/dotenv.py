"""The dotenv lines a worker needs to use running sandbox portals.

``SIPLINE_PORTALS`` is JSON (see ``worker.settings``), written in single quotes so that
dotenv readers keep its double quotes as they are.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from worker.sandbox.portal.server import SandboxPortal


def dotenv_lines(
    portals: Sequence[SandboxPortal],
    *,
    auth: Literal["webhook", "oauth"] = "webhook",
    token_store: Path | None = None,
) -> list[str]:
    """``SIPLINE_PORTALS=…`` (and the token store path, if given) for started portals."""
    entries = {p.options.domain: p.portal_settings(auth=auth) for p in portals}
    lines = [
        "# Bitrix24 sandbox portals (secrets: keep this file private)",
        f"SIPLINE_PORTALS='{json.dumps(entries, separators=(',', ':'))}'",
    ]
    if token_store is not None:
        lines.append(f"SIPLINE_BITRIX24_TOKEN_STORE={token_store}")
    return lines
