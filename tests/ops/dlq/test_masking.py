"""Masking: a corpus of the shapes a producer's mistake can take, and hypothesis mixing them.

The canary password must never come out of :func:`masked_body`, :func:`mask_bytes` or
:func:`mask_value`, however the body hides it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.console import Console

from tests.ops.dlq.conftest import CANARY
from worker.ops.dlq import jsonl, render, views
from worker.ops.dlq.filters import Filter
from worker.ops.dlq.masking import MASK, mask_bytes, mask_text, mask_value, masked_body
from worker.ops.dlq.model import Properties, Raw, parse
from worker.ops.dlq.scrub import is_secret_key

_UNICODE_ESCAPE = re.compile(r"\\+u([0-9a-fA-F]{4})")


def _leaks(output: str) -> bool:
    """The canary, as is or spelled with \\u escapes."""
    decoded = _UNICODE_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), output)
    return CANARY in output or CANARY in decoded


def _double(inner: str, times: int = 1) -> str:
    for _ in range(times):
        inner = json.dumps({"id": "x", "data": inner})
    return inner


CORPUS: dict[str, str] = {
    "plain": json.dumps({"data": {"password": CANARY}}),
    "mixed case": json.dumps({"data": {"PassWord": CANARY, "x": [{"PASSWORD": CANARY}]}}),
    "snake and kebab": json.dumps({"sip_password": CANARY, "sip-pass-word": CANARY}),
    "number value": '{"password": 12345' + CANARY.replace("-", "") + "}",
    "object value": json.dumps({"password": {"value": CANARY}}),
    "double encoded": _double(json.dumps({"password": CANARY})),
    "encoded 5 times": _double(json.dumps({"password": CANARY}), 5),
    "double encoded, truncated": _double(json.dumps({"password": CANARY}), 2)[:-4],
    "python repr": str({"password": CANARY, "login": "100"}),
    "python repr, nested": str({"data": {"Password": CANARY}}),
    "python repr with quote": str({"password": "it's " + CANARY}),
    "python repr in json": json.dumps({"data": str({"password": CANARY})}),
    "escaped key, invalid json": '{"data": {"pass\\u0077ord": "' + CANARY + '", "login"',
    "escaped key, valid json": '{"pass\\u0077ord": "' + CANARY + '"}',
    "escaped key, double encoded": '{"data": "{\\"pass\\\\u0077ord\\": \\"' + CANARY + '\\"',
    "hex escaped key": "{'pass\\x77ord': '" + CANARY + "'",
    "truncated": '{"data": {"password": "' + CANARY + '", "login": "1',
    "unterminated": '{"password": "' + CANARY,
    "escaped quote in value": json.dumps({"password": 'a"b\\' + CANARY}),
    "spaces around colon": '{"password"  :  "' + CANARY + '" ',
    "query string": "login=100&password=" + CANARY + "&title=x",
    "yaml": "login: 100\npassword: " + CANARY + " and more\ntitle: x\n",
    "key=value in a json string": json.dumps({"note": "password=" + CANARY}),
    "webhook url": json.dumps({"url": "https://p.bitrix24.ru/rest/1/" + CANARY + "/"}),
    "webhook url in text": "call https://p.bitrix24.ru/rest/7/" + CANARY + "/profile failed",
    "webhook_url key": json.dumps({"webhook_url": "https://p.bitrix24.ru/rest/1/x" + CANARY}),
    "oauth tokens": json.dumps({"auth": {"access_token": CANARY, "refresh_token": CANARY}}),
    "auth in query": "https://p.bitrix24.ru/rest/voximplant.sip.get?auth=" + CANARY,
    "client secret": json.dumps({"oauth": {"client_secret": CANARY}}),
    "callback salt": json.dumps({"callbackSalt": CANARY}),
    "bearer": "Authorization: Bearer " + CANARY,
    "xml": "<line><password>" + CANARY + "</password></line>",
    "pem": "-----BEGIN PRIVATE KEY-----\n" + CANARY + "\n-----END PRIVATE KEY-----",
    "jwt": json.dumps({"note": "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOjF9." + CANARY}),
    "deep json": '{"a":' * 5000 + '{"password": "' + CANARY + '"}' + "}" * 5000,
    "deep but parseable": '{"a":' * 500 + '{"password": "' + CANARY + '"}' + "}" * 500,
    "list of secrets": json.dumps([{"password": CANARY}] * 3),
}


@pytest.mark.parametrize("shape", sorted(CORPUS))
def test_the_corpus_never_leaks(shape: str) -> None:
    body = CORPUS[shape]
    for output in (masked_body(body.encode()), mask_bytes(body.encode()).decode()):
        assert not _leaks(output), output[:400]
    not_utf8 = b"\xff\xfe" + body.encode()
    assert CANARY.encode() not in mask_bytes(not_utf8)
    assert mask_bytes(not_utf8).startswith(b"\xff\xfe")


def _printed(renderable: object) -> str:
    console = Console(record=True, width=120, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(renderable)
    console.file.close()
    return console.export_text()


@pytest.mark.parametrize("shape", sorted(CORPUS))
def test_show_list_text_and_masked_export_never_leak(shape: str) -> None:
    """What ``dlq show`` (table and --json), ``list --text`` and ``export --mask-secrets`` use."""
    forged = {
        "x-sipline-reason": "schema_violation",
        "x-sipline-error-message": CORPUS[shape][:2000],
        "x-sipline-failures": json.dumps([{"code": "x", "message": CORPUS[shape][:2000]}]),
        "x-note": CORPUS[shape][:2000],
    }
    letter = parse(Raw(CORPUS[shape].encode(), "line.create", Properties(), forged))
    now = datetime.now(UTC)
    assert not _leaks(json.dumps(views.detail(letter, now)))
    assert not _leaks(_printed(render.detail(letter, now)))
    assert not _leaks(jsonl.encode(letter, mask=True))
    assert not Filter(text=CANARY).matches(letter, now)


def test_headers_are_masked_in_any_shape() -> None:
    headers = {
        "x-password": CANARY,
        "x-note": b'{"password": "' + CANARY.encode() + b'"}',
        "x-table": {"nested": [{"Secret": CANARY}], "text": "token=" + CANARY},
        "x-deep": _double(json.dumps({"password": CANARY}), 3),
    }
    assert not _leaks(json.dumps(mask_value(headers), default=repr))


def test_what_is_not_secret_survives() -> None:
    body = json.dumps({"title": "Office", "data": json.dumps({"password": CANARY, "login": "1"})})
    shown = json.loads(masked_body(body.encode()))
    assert shown["title"] == "Office"
    assert json.loads(shown["data"]) == {"password": MASK, "login": "1"}
    assert mask_text("line 42 failed: ERROR_NOT_FOUND") == "line 42 failed: ERROR_NOT_FOUND"
    assert mask_text(str({"login": "100", "password": "x"})) == str(
        {"login": "100", "password": MASK}
    )


def test_secret_key_names() -> None:
    for key in ("password", "PASSWORD", "sip_password", "pass\\u0077ord", "client_secret"):
        assert is_secret_key(key), key
    for key in ("access_token", "privateKey", "callback_salt", "webhook_url", "auth", "pwd"):
        assert is_secret_key(key), key
    for key in ("login", "title", "server", "config_id", "portal", "type", "auth_user"):
        assert not is_secret_key(key), key


# --- hypothesis: random compositions of the shapes ---------------------------------------

_KEYS = ["password", "sip_password", "passwd", "client_secret", "access_token", "private_key"]


@st.composite
def secret_keys(draw: st.DrawFn) -> str:
    key = draw(st.sampled_from(_KEYS))
    return "".join(c.upper() if draw(st.booleans()) else c for c in key)


@st.composite
def quoted_values(draw: st.DrawFn) -> str:
    """A value holding the canary, with anything around it (quotes and escapes too)."""
    around = st.text(alphabet="ab \"'\\,:;&{}[]=\n", max_size=6)
    return draw(around) + CANARY + draw(around)


def _escape_key_char(key: str, index: int) -> str:
    index %= len(key)
    return key[:index] + f"\\u{ord(key[index]):04x}" + key[index + 1 :]


@st.composite
def bodies(draw: st.DrawFn) -> str:
    key = draw(secret_keys())
    siblings = draw(st.dictionaries(st.sampled_from(["id", "title", "login"]), st.text(max_size=5)))
    base = draw(st.sampled_from(["json", "repr", "query", "yaml", "xml", "escaped-json"]))
    if base in ("json", "escaped-json", "repr"):
        pairs = {**siblings, key: draw(quoted_values())}
        text = str(pairs) if base == "repr" else json.dumps(pairs)
        if base == "escaped-json":
            text = text.replace(
                json.dumps(key),
                json.dumps(key).replace(key, _escape_key_char(key, draw(st.integers(0, 20)))),
            )
    else:
        safe = draw(st.text(alphabet="abc-_.", max_size=4)) + CANARY
        text = {
            "query": f"a=1&{key}={safe}&b=2",
            "yaml": f"a: 1\n{key}: {safe}\nb: 2\n",
            "xml": f"<x><{key}>{safe}</{key}></x>",
        }[base]
    wrappers: list[Callable[[str], str]] = [
        lambda t: json.dumps({"data": t}),
        lambda t: str({"data": t}),
        lambda t: "[" + t + "]",
        lambda t: "junk " + t,
        lambda t: t[: t.index(CANARY) + len(CANARY) + draw(st.integers(0, 3))],
    ]
    for wrapper in draw(st.lists(st.sampled_from(wrappers), max_size=4)):
        text = wrapper(text)
    return text


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bodies())
def test_no_shape_leaks_the_canary(body: str) -> None:
    assert not _leaks(masked_body(body.encode())), body
    assert not _leaks(mask_bytes(body.encode()).decode()), body
