"""Parsing and verification alone: strict shapes, errors that quote nothing, the hash."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import SecretStr

from tests.callbacks.helpers import ACCOUNT, API_KEY, SALT, fail, recovered, sign
from worker.callbacks import MalformedCallbacks, parse_callbacks
from worker.callbacks.signature import check


def _body(*callbacks: dict[str, Any]) -> bytes:
    return json.dumps({"callbacks": list(callbacks)}).encode()


def test_several_callbacks_of_both_types_parse() -> None:
    extra = {"callback_id": 9, "type": "account_balance_low", "account_id": ACCOUNT, "hash": "x"}
    parsed = parse_callbacks(_body(fail(1, 150001, 150002), recovered(2, 150003), extra))
    assert [c.callback_id for c in parsed] == [1, 2, 9]
    assert [i.sip_registration_id for i in parsed[0].registrations()] == [150001, 150002]
    assert parsed[0].registrations()[0].status_code == "403"
    assert [i.sip_registration_id for i in parsed[1].registrations()] == [150003]
    assert parsed[2].registrations() == []  # a type the worker does not act on


SECRETISH = "SECRET-looking-value-7781"


@pytest.mark.parametrize(
    ("body", "where"),
    [
        (b"", "Invalid JSON"),
        (b"{not json", "Invalid JSON"),
        (b"\xff\xfe{}", "Invalid JSON"),
        (b"[]", "body"),
        (b'{"callbacks": []}', "callbacks"),
        (b'{"callbacks": {}}', "callbacks"),
        (b'{"other": 1}', "callbacks"),
        (_body({"type": "sip_registration_fail", "account_id": 1}), "callbacks.0.callback_id"),
        (_body({**fail(1, 5), "callback_id": "1"}), "callbacks.0.callback_id"),
        (_body({**fail(1, 5), "callback_id": 1.0}), "callbacks.0.callback_id"),
        (_body({**fail(1, 5), "callback_id": True}), "callbacks.0.callback_id"),
        (_body({**fail(1, 5), "callback_id": -1}), "callbacks.0.callback_id"),
        (_body({**fail(1, 5), "account_id": SECRETISH}), "callbacks.0.account_id"),
        (_body({**fail(1, 5), "hash": 12345}), "callbacks.0.hash"),
        (_body(fail(1, 5), {**fail(2, 5), "sip_registration_fail": None}), "callbacks.1"),
        (
            _body({**fail(1), "sip_registration_fail": {"sip_registrations": [{"x": 1}]}}),
            "callbacks.0.sip_registration_fail.sip_registrations.0.sip_registration_id",
        ),
        (
            _body({**fail(1), "sip_registration_fail": {"sip_registrations": [SECRETISH]}}),
            "callbacks.0.sip_registration_fail.sip_registrations.0",
        ),
        (_body(*[fail(i, 5) for i in range(1001)]), "callbacks"),
    ],
)
def test_anything_else_is_malformed_and_the_error_quotes_no_value(body: bytes, where: str) -> None:
    with pytest.raises(MalformedCallbacks) as caught:
        parse_callbacks(body)
    assert where in str(caught.value)
    assert SECRETISH not in str(caught.value)


def test_the_hash_is_checked_against_salt_account_key_and_id() -> None:
    secrets = {"salt": SecretStr(SALT), "api_key": SecretStr(API_KEY)}
    good = sign(7)
    assert check(good, account_id=ACCOUNT, callback_id=7, **secrets) == "ok"
    assert check(good.upper(), account_id=ACCOUNT, callback_id=7, **secrets) == "ok"
    assert check(good, account_id=ACCOUNT, callback_id=8, **secrets) == "forged"  # replayed id
    assert check(good, account_id=ACCOUNT + 1, callback_id=7, **secrets) == "forged"
    assert check(sign(7, salt="other"), account_id=ACCOUNT, callback_id=7, **secrets) == "forged"
    assert check(sign(7, key="other"), account_id=ACCOUNT, callback_id=7, **secrets) == "forged"
    assert check("ünïcode", account_id=ACCOUNT, callback_id=7, **secrets) == "forged"
    assert check(None, account_id=ACCOUNT, callback_id=7, **secrets) == "unsigned"
    assert check("", account_id=ACCOUNT, callback_id=7, **secrets) == "unsigned"
