"""Keep secrets out of everything ``sipline dlq`` shows or writes with ``--mask-secrets``.

Two layers, so that no shape of a producer's mistake gets through:

1. **Decode where possible.** A body (or a header, or a string inside either) that parses as
   JSON is masked structurally: the value of every key that names a secret
   (:func:`worker.ops.dlq.scrub.is_secret_key`: ``password`` in any case or spelling,
   ``client_secret``, ``access_token``, ``private_key``, ``callback_salt``, ...) becomes
   ``**********`` whatever its type, and every string is masked again the same way, so JSON
   encoded inside JSON (any number of times) is decoded, masked and encoded back.
2. **Mask conservatively where not.** Text that does not parse (a Python ``repr``, a
   truncated body, escaped keys in invalid JSON, query strings, bytes that are not UTF-8),
   every string leaf, and finally the whole output of step 1 go through the scrubber
   (:mod:`worker.ops.dlq.scrub`), which redacts the value after any key that normalises to a
   secret name, to the end of the text when the value's end cannot be found.

Nesting deeper than :data:`MAX_DEPTH` is not decoded (it is scrubbed as text instead), so a
hostile body cannot exhaust the stack.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from worker.ops.dlq.scrub import MASK, is_secret_key, scrub

__all__ = ["MASK", "MAX_DEPTH", "is_secret_key", "mask_bytes", "mask_text", "mask_value"]

MAX_DEPTH = 64
_JSON_START = ("{", "[", '"')


class _TooDeep(Exception):
    """Nesting beyond :data:`MAX_DEPTH`: scrub the text instead of decoding it."""


def _mask_string(text: str, depth: int) -> str:
    stripped = text.strip()
    if stripped.startswith(_JSON_START) and depth < MAX_DEPTH:
        try:
            decoded = json.loads(stripped)
        except (ValueError, RecursionError):
            pass
        else:
            try:
                return json.dumps(_mask(decoded, depth + 1), ensure_ascii=False)
            except (_TooDeep, RecursionError, ValueError):
                pass
    return scrub(text)


def _mask(value: Any, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise _TooDeep
    if isinstance(value, Mapping):
        return {
            key: MASK if is_secret_key(str(key)) else _mask(item, depth + 1)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [_mask(item, depth + 1) for item in value]
    if isinstance(value, str):
        return _mask_string(value, depth)
    if isinstance(value, bytes):
        return _mask_string(value.decode("utf-8", "replace"), depth).encode()
    return value


def mask_value(value: Any) -> Any:
    """A copy of a JSON-like value (a header table, a decoded body) with secrets masked.

    Too deep to decode safely: the value is replaced by its scrubbed text.
    """
    try:
        return _mask(value, 0)
    except (_TooDeep, RecursionError):
        return scrub(_shallow_text(value))


def _shallow_text(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (ValueError, TypeError, RecursionError):
        return MASK


def mask_text(body: str) -> str:
    """Mask a body given as text: decoded and masked when it is JSON, scrubbed otherwise.

    The result of the structural pass is scrubbed once more as a whole: belt and braces.
    """
    return scrub(_mask_string(body, 0))


def masked_body(body: bytes) -> str:
    """The body as text for display, secrets masked (invalid UTF-8 shown replaced)."""
    return mask_text(body.decode("utf-8", "replace"))


def mask_bytes(body: bytes) -> bytes:
    """The body with secrets masked, for ``export --mask-secrets``.

    A body that is not UTF-8 is scrubbed as Latin-1 text (one character per byte), so the
    bytes around what is masked survive unchanged.
    """
    try:
        return mask_text(body.decode("utf-8")).encode()
    except UnicodeDecodeError:
        return scrub(body.decode("latin-1")).encode("latin-1", "replace")
