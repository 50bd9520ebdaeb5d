"""A callback's proof: ``hash`` = md5(callback_salt + account_id + api_key + callback_id).

Voximplant signs each callback on its own (no header signs the request); the salt and the
API key are the account's secrets and never leave this module's arguments. The comparison
takes the same time whatever the given hash is, so a forger learns nothing from timing.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Literal

from pydantic import SecretStr

Check = Literal["ok", "unsigned", "forged"]


def expected_hash(salt: SecretStr, account_id: int, api_key: SecretStr, callback_id: int) -> str:
    text = f"{salt.get_secret_value()}{account_id}{api_key.get_secret_value()}{callback_id}"
    return hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest()


def check(
    given: str | None, *, salt: SecretStr, api_key: SecretStr, account_id: int, callback_id: int
) -> Check:
    """``ok`` when ``given`` is the callback's hash (hex, either case)."""
    if not given:
        return "unsigned"
    expected = expected_hash(salt, account_id, api_key, callback_id)
    same = hmac.compare_digest(expected.encode(), given.strip().lower().encode("utf-8"))
    return "ok" if same else "forged"
