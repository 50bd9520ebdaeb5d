"""The sandbox account's service-account key and the ``credentials.json`` the worker reads.

The key is made once and reused across runs (RSA generation is slow, and a stable key lets
``sipline sandbox`` be restarted under a running worker).  The file has the documented
shape, written with owner-only permissions because it holds a private key.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

__all__ = [
    "API_KEY_FILE",
    "CREDENTIALS_FILE",
    "SandboxKey",
    "ensure_api_key",
    "ensure_service_account",
]

CREDENTIALS_FILE = "credentials.json"
API_KEY_FILE = "api_key"


@dataclass(frozen=True, slots=True)
class SandboxKey:
    """What the verifier needs: the account, the key id and the public half of the key."""

    account_id: int
    key_id: str
    public_key: rsa.RSAPublicKey
    credentials_path: Path


def ensure_service_account(
    directory: Path,
    *,
    account_id: int,
    account_email: str,
    private_key: rsa.RSAPrivateKey | None = None,
    key_bits: int = 2048,
) -> SandboxKey:
    """Reuse ``directory/credentials.json`` when it fits, else make a key and write it.

    ``private_key`` lets tests share one pre-generated key across many sandboxes.
    """
    path = directory / CREDENTIALS_FILE
    existing = _read(path, account_id)
    if existing is not None and (
        private_key is None or _same_key(existing.public_key, private_key.public_key())
    ):
        return existing
    key = private_key or rsa.generate_private_key(public_exponent=65537, key_size=key_bits)
    key_id = str(uuid.uuid4())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")
    document = {
        "account_email": account_email,
        "account_id": account_id,
        "key_id": key_id,
        "private_key": pem,
    }
    directory.mkdir(parents=True, exist_ok=True)
    _write_private(path, json.dumps(document, indent=2) + "\n")
    return SandboxKey(account_id, key_id, key.public_key(), path.resolve())


def ensure_api_key(directory: Path) -> str:
    """The account's ``api_key`` (callbacks are signed with it): reused, or made and kept."""
    path = directory / API_KEY_FILE
    try:
        existing = path.read_text(encoding="utf-8").strip()
    except OSError:
        existing = ""
    if existing:
        return existing
    key = str(uuid.uuid4())
    directory.mkdir(parents=True, exist_ok=True)
    _write_private(path, key + "\n")
    return key


def _read(path: Path, account_id: int) -> SandboxKey | None:
    """The key already on disk, or None when there is none usable for this account."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(document.get("result"), dict):
            document = document["result"]
        if int(document["account_id"]) != account_id:
            return None
        key = serialization.load_pem_private_key(
            str(document["private_key"]).encode("utf-8"), password=None
        )
        key_id = str(document["key_id"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    if not isinstance(key, rsa.RSAPrivateKey):
        return None
    return SandboxKey(account_id, key_id, key.public_key(), path.resolve())


def _same_key(a: rsa.RSAPublicKey, b: rsa.RSAPublicKey) -> bool:
    return a.public_numbers() == b.public_numbers()


def _write_private(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    tmp.replace(path)
