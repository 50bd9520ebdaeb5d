"""Encryption of the store's secrets at rest: Fernet (AES-128-CBC + HMAC-SHA256) keys.

``SIPLINE_STORE_KEY`` holds one key or several, comma-separated: the first encrypts, every
one decrypts (``cryptography``'s MultiFernet). Rotation is: put the new key first, run
``sipline store rotate-key`` (everything is re-encrypted under it in one transaction), then
drop the old key. A known value encrypted under the key (``store_meta.key_check``) lets the
store tell "no key", "wrong key" and "right key" apart at start-up.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from pydantic import SecretStr

from worker.store.errors import StoreKeyError

KEY_CHECK_VALUE = b"sipline store key check v1"
GENERATE_HINT = "`sipline store generate-key` prints a new one"


def generate_key() -> str:
    """A fresh random Fernet key (32 bytes, URL-safe base64)."""
    return Fernet.generate_key().decode("ascii")


class Cipher:
    """Encrypts and decrypts single values; without a key it refuses both."""

    def __init__(self, setting: SecretStr | None) -> None:
        self._fernet: MultiFernet | None = None
        if setting is None:
            return
        keys = [k.strip() for k in setting.get_secret_value().split(",") if k.strip()]
        if not keys:
            return
        fernets: list[Fernet] = []
        for position, key in enumerate(keys, start=1):
            try:
                fernets.append(Fernet(key.encode("ascii")))
            except (ValueError, UnicodeEncodeError):
                raise StoreKeyError(
                    f"SIPLINE_STORE_KEY: key {position} is not a Fernet key ({GENERATE_HINT})"
                ) from None
        self._fernet = MultiFernet(fernets)

    @property
    def has_key(self) -> bool:
        return self._fernet is not None

    def _require(self) -> MultiFernet:
        if self._fernet is None:
            raise StoreKeyError(
                f"SIPLINE_STORE_KEY is not set; the store keeps secrets only encrypted "
                f"({GENERATE_HINT})"
            )
        return self._fernet

    def encrypt(self, value: SecretStr) -> str:
        return self._require().encrypt(value.get_secret_value().encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> SecretStr:
        try:
            plain = self._require().decrypt(token.encode("ascii"))
        except InvalidToken:
            raise StoreKeyError(
                "SIPLINE_STORE_KEY does not decrypt the store's secrets (a different key "
                "encrypted them)"
            ) from None
        return SecretStr(plain.decode("utf-8"))

    def rotate(self, token: str) -> str:
        """The same value, encrypted under the first key."""
        try:
            return self._require().rotate(token.encode("ascii")).decode("ascii")
        except InvalidToken:
            raise StoreKeyError(
                "SIPLINE_STORE_KEY does not decrypt the store's secrets; keep the old key in "
                "the list (after the new one) while rotating"
            ) from None

    def key_check(self) -> str:
        return self._require().encrypt(KEY_CHECK_VALUE).decode("ascii")

    def verify(self, key_check: str, *, where: str) -> None:
        """Raise a one-line :class:`StoreKeyError` unless the key opens this store."""
        if self._fernet is None:
            raise StoreKeyError(
                f"the store at {where} holds encrypted secrets: set SIPLINE_STORE_KEY to its key"
            )
        try:
            ok = self._fernet.decrypt(key_check.encode("ascii")) == KEY_CHECK_VALUE
        except InvalidToken:
            ok = False
        if not ok:
            raise StoreKeyError(
                f"SIPLINE_STORE_KEY does not open the store at {where} (wrong key?)"
            )
