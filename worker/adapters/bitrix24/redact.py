"""Keep webhook codes, tokens and passwords out of log lines and exception messages.

A webhook URL carries its secret in the path (``/rest/USER_ID/CODE/``), so URLs are masked
before anything prints them; upstream error descriptions are scrubbed of every secret the
client knows, because a portal may echo a parameter back.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

from yarl import URL

MASK = "***"
_WEBHOOK_PATH = re.compile(r"(/rest/[^/]+/)[^/]+(/|$)")


def mask_url(url: str) -> str:
    """The URL without its query, fragment, user info or webhook code."""
    try:
        parsed = URL(url)
    except (TypeError, ValueError):
        return MASK
    path = _WEBHOOK_PATH.sub(rf"\g<1>{MASK}\g<2>", parsed.path)
    host = parsed.host or ""
    port = f":{parsed.explicit_port}" if parsed.explicit_port else ""
    return f"{parsed.scheme}://{host}{port}{path}" if parsed.scheme else path


class Redactor:
    """Replaces every registered secret in a text with ``***``."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        self.add(*secrets)

    def add(self, *secrets: str) -> None:
        """Remember more secrets (short ones are ignored: masking them would garble text)."""
        for secret in secrets:
            if secret and len(secret) >= 4:  # as sent, and as a query string would quote it
                self._secrets.update({secret, quote_plus(secret), quote(secret, safe="")})

    def __call__(self, text: str, extra: Iterable[str] = ()) -> str:
        extra = [form for s in extra for form in (s, quote_plus(s), quote(s, safe=""))]
        for secret in sorted(
            {*self._secrets, *(s for s in extra if s and len(s) >= 4)}, key=len, reverse=True
        ):
            text = text.replace(secret, MASK)
        return text
