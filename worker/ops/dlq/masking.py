"""Keep passwords out of everything ``sipline dlq`` shows.

Any key named ``password`` (any case, any depth) is masked. A body that is not valid JSON
(truncated, not UTF-8) is masked by pattern, so a broken body cannot leak a password either.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

MASK = "**********"
_KEY = "password"
# "password": "..." (possibly unterminated) or "password": 12345 in text that is not JSON.
_PATTERN = re.compile(
    r'("password"\s*:\s*)(?:"(?:[^"\\]|\\.)*"?|[^,}\]\s]+)', re.IGNORECASE | re.DOTALL
)


def mask_value(value: Any) -> Any:
    """A copy of a JSON-like value with every password masked."""
    if isinstance(value, Mapping):
        return {
            k: (MASK if isinstance(k, str) and k.lower() == _KEY else mask_value(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [mask_value(item) for item in value]
    return value


def mask_text(body: str) -> str:
    """Mask a body given as text: structurally when it is JSON, by pattern otherwise."""
    try:
        decoded = json.loads(body)
    except (ValueError, RecursionError):
        return _PATTERN.sub(rf'\1"{MASK}"', body)
    return json.dumps(mask_value(decoded), ensure_ascii=False)


def masked_body(body: bytes) -> str:
    """The body as text for display, passwords masked (invalid UTF-8 shown replaced)."""
    return mask_text(body.decode("utf-8", "replace"))


def mask_bytes(body: bytes) -> bytes:
    """The body with passwords masked, for ``export --mask-secrets``.

    A body that is not UTF-8 is masked by pattern over its bytes, so its other bytes survive.
    """
    try:
        return mask_text(body.decode("utf-8")).encode()
    except UnicodeDecodeError:
        pattern = re.compile(_PATTERN.pattern.encode(), re.IGNORECASE | re.DOTALL)
        return pattern.sub(rb'\1"' + MASK.encode() + rb'"', body)
