"""Mask secrets in text that could not be parsed: conservative, by shape, never by example.

A producer's mistake can put a password anywhere: in a JSON string that holds JSON again
(escaped once per level), in a Python ``repr``, behind a key spelled ``"pass\\u0077ord"``, in a
truncated body, in a query string or a webhook URL. Rather than listing those cases, the
scrubber looks for what they share, a key followed by a separator::

    <key> <sep> <value>    key: a bare word, or quoted with any quote escaped any number of times
                           sep: ":" | "=" | "=>"
                           value: a quoted string (to its matching quote), a bracketed structure
                           (to its matching bracket), or a bare run (to , ; & or the end of line)

and redacts the value whenever the key, its escapes decoded and its case and punctuation
dropped, names a secret (:func:`is_secret_key`). When the end of a value cannot be found, the
rest of the text is redacted: masking too much is the safe failure. Webhook codes in URL
paths, ``Bearer`` credentials, JWTs, PEM private keys and ``<password>`` elements are masked
wherever they appear.

The scan is linear in the text (bounded look-ahead at each quote), so a megabyte body of junk
costs milliseconds, not minutes.
"""

from __future__ import annotations

import functools
import re
from urllib.parse import unquote

MASK = "**********"

# A key is secret when its normalised form contains one of these...
_SECRET_PARTS = (
    "password",
    "passwd",
    "passphrase",
    "pwd",
    "secret",
    "token",
    "privatekey",
    "apikey",
    "salt",
    "authorization",
    "credential",
    "webhook",
    "jwt",
    "cookie",
)
# ... or is exactly one of these.
_SECRET_NAMES = frozenset({"pass", "pw", "auth"})

_QUOTE = r"\\*[\"'`]"
_KEY = re.compile(
    rf"""(?P<q>{_QUOTE})(?P<quoted>[^"'`:=\n]{{1,200}}?)(?P=q)
      | (?P<bare>[\w\\%.\-]+)(?:{_QUOTE})?""",
    re.VERBOSE,
)
_SEPARATOR = re.compile(r"[ \t\r\n]{0,20}(?:=>|:|=)[ \t\r\n]{0,20}")
_ESCAPES = re.compile(r"\\+(?:u([0-9a-fA-F]{4})|x([0-9a-fA-F]{2})|U([0-9a-fA-F]{8}))")
_VALUE_QUOTE = re.compile(r"[bBrRuUfF]{0,2}(\\*)([\"'`])")
_BARE_END = re.compile(r"[,;&\r\n}\])]|\\+[rn]")
_OPEN = {"{": "}", "[": "]", "(": ")"}
_SHAPES = (
    # a webhook code in a Bitrix24 REST path: /rest/<user>/<code>/
    (re.compile(r"(/rest/[^/\s\"'\\]{1,40}/)[^/\s\"'\\?#]+"), rf"\g<1>{MASK}"),
    (re.compile(r"(?i)\b(bearer|basic)(\s+)[\w.~+/=\-]{8,}"), rf"\g<1>\g<2>{MASK}"),
    (re.compile(r"\beyJ[\w\-]{4,}\.[\w\-]{4,}\.[\w\-]*"), MASK),
    (
        re.compile(
            r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|\Z)", re.S
        ),
        MASK,
    ),
)
_ELEMENT = re.compile(r"<([\w:\-]{1,80})(?:\s[^<>]{0,200})?>([^<]*)")


def normalise_key(key: str) -> str:
    """``"Pass\\u0077ord"``, ``sip_password`` and ``PASSWORD`` all end in ``password``."""
    text = key
    for _ in range(8):  # nested escapes decode one level at a time
        decoded = _ESCAPES.sub(_unescape, text)
        if decoded == text:
            break
        text = decoded
    return re.sub(r"[^0-9a-z]", "", unquote(text).casefold())


def _unescape(match: re.Match[str]) -> str:
    digits = match.group(1) or match.group(2) or match.group(3)
    try:
        return chr(int(digits, 16))
    except (ValueError, OverflowError):
        return ""


@functools.lru_cache(maxsize=4096)
def is_secret_key(key: str) -> bool:
    """Whether a value under ``key`` must never be shown."""
    name = normalise_key(key)
    return name in _SECRET_NAMES or any(part in name for part in _SECRET_PARTS)


def _closing_quote(text: str, start: int, slashes: int, quote: str) -> int:
    """The index of the quote closing a string that opened just before ``start``, or -1.

    A string whose opening quote carries ``k`` backslashes is closed by a quote after exactly
    ``k`` backslashes. Which other quotes are escaped depends on layers of encoding the text
    does not show (``\\"`` is a backslash and a quote in JSON, an escaped quote in a ``repr``
    of JSON), so in doubt the value goes on: too much is masked, never too little.
    """
    position = start
    while (found := text.find(quote, position)) != -1:
        run = 0
        while found - run - 1 >= start and text[found - run - 1] == "\\":
            run += 1
        if run == slashes:
            return found
        position = found + 1
    return -1


def _bracket_end(text: str, start: int) -> int:
    """Just past the bracket matching ``text[start]`` (quotes ignored), or the end."""
    opening, closing = text[start], _OPEN[text[start]]
    depth = 0
    for index in range(start, len(text)):
        if text[index] == opening:
            depth += 1
        elif text[index] == closing:
            depth -= 1
            if depth == 0:
                return index + 1
    return len(text)


def _value_span(text: str, start: int) -> tuple[int, int]:
    """Where the value starting at ``start`` lies (its quotes left out)."""
    if start >= len(text):
        return start, start
    quote = _VALUE_QUOTE.match(text, start)
    if quote is not None:
        slashes = len(quote.group(1))
        close = _closing_quote(text, quote.end(), slashes, quote.group(2))
        return quote.end(), len(text) if close == -1 else max(close - slashes, quote.end())
    if text[start] in _OPEN:
        return start, _bracket_end(text, start)
    end = _BARE_END.search(text, start)
    return start, len(text) if end is None else end.start()


def _mask_pairs(text: str) -> str:
    out: list[str] = []
    last = position = 0
    while (match := _KEY.search(text, position)) is not None:
        quoted = match.group("quoted")
        key = quoted if quoted is not None else match.group("bare")
        separator = _SEPARATOR.match(text, match.end())
        if separator is None or not is_secret_key(key):
            # a quote may open a key as well as close a value: try again just after it
            position = match.start() + 1 if quoted is not None else match.end()
            continue
        start, end = _value_span(text, separator.end())
        if end == start:  # nothing to mask here: the key may have been a misreading
            position = match.start() + 1
            continue
        out += [text[last:start], MASK]
        last = position = end
    out.append(text[last:])
    return "".join(out)


def _mask_elements(text: str) -> str:
    """``<password>...</password>``: the element's text."""
    out: list[str] = []
    last = 0
    for match in _ELEMENT.finditer(text):
        if match.group(2) and is_secret_key(match.group(1)):
            out += [text[last : match.start(2)], MASK]
            last = match.end(2)
    out.append(text[last:])
    return "".join(out)


def scrub(text: str) -> str:
    """``text`` with the value after every secret key, and every credential shape, masked."""
    masked = _mask_pairs(text)
    for pattern, replacement in _SHAPES:
        masked = pattern.sub(replacement, masked)
    return _mask_elements(masked)
