"""Callbacks as Voximplant sends them, signed independently of the code under test."""

from __future__ import annotations

import hashlib
from typing import Any

ACCOUNT = 8800555
SALT = "salt-CANARY-0f3a9c"
API_KEY = "apikey-CANARY-5d1e7b"


def sign(
    callback_id: int, *, account_id: int = ACCOUNT, salt: str = SALT, key: str = API_KEY
) -> str:
    text = f"{salt}{account_id}{key}{callback_id}"
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def fail(
    callback_id: int,
    *reg_ids: int,
    account_id: int = ACCOUNT,
    status_code: str = "403",
    signature: str | None = "good",
) -> dict[str, Any]:
    """A ``sip_registration_fail`` callback; ``signature`` "good", None (absent) or a hash."""
    items = [
        {"sip_registration_id": r, "status_code": status_code, "error_message": "Forbidden"}
        for r in reg_ids
    ]
    return _callback(callback_id, "sip_registration_fail", items, account_id, signature)


def recovered(
    callback_id: int, *reg_ids: int, account_id: int = ACCOUNT, signature: str | None = "good"
) -> dict[str, Any]:
    items = [{"sip_registration_id": r} for r in reg_ids]
    return _callback(callback_id, "sip_registration_recovered", items, account_id, signature)


def _callback(
    callback_id: int,
    kind: str,
    items: list[dict[str, Any]],
    account_id: int,
    signature: str | None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "callback_id": callback_id,
        "type": kind,
        "account_id": account_id,
        "account_name": "sipline-test",
        "account_email": "ops@example.com",
        kind: {"sip_registrations": items},
    }
    if signature == "good":
        body["hash"] = sign(callback_id, account_id=account_id)
    elif signature is not None:
        body["hash"] = signature
    return body
