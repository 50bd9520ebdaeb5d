"""The service-account key, loaded once at start-up from ``credentials.json``.

Voximplant hands out the key as the response of ``CreateKey``; people save either that
response (``{"result": {...}}``) or its inner object, so both shapes are accepted.  Every
problem is a :class:`~worker.errors.ConfigurationError` that names the file and the field,
because an operator has to fix the file; no message ever quotes a value from it, since
the file holds the private key.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from worker.errors import ConfigurationError

__all__ = [
    "ServiceAccountCredentials",
    "load_configured_credentials",
    "load_credentials",
    "parse_credentials",
]


@dataclass(frozen=True, slots=True)
class ServiceAccountCredentials:
    """What signing a token needs; the private key is parsed once and never printed."""

    account_id: int
    key_id: str
    private_key: RSAPrivateKey = field(repr=False, compare=False)
    account_email: str | None = None
    source: str = "credentials.json"

    def __repr__(self) -> str:
        return (
            f"ServiceAccountCredentials(account_id={self.account_id}, "
            f"key_id={self.key_id!r}, source={self.source!r})"
        )


def load_credentials(path: Path | str) -> ServiceAccountCredentials:
    """Read and validate the credentials file; any problem stops the process at start-up."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigurationError(f"Voximplant credentials file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = type(exc).__name__
        raise ConfigurationError(
            f"Voximplant credentials file {path} cannot be read ({reason})"
        ) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        # Not chained: the decode error carries the whole document, private key included.
        raise ConfigurationError(
            f"Voximplant credentials file {path} is not valid JSON "
            f"(line {exc.lineno}, column {exc.colno})"
        ) from None
    return parse_credentials(data, source=str(path))


def load_configured_credentials(path: Path | str | None) -> ServiceAccountCredentials:
    """The credentials at the configured path (``VOXIMPLANT_CREDENTIALS``); none configured
    is a configuration error."""
    if path is None:
        raise ConfigurationError(
            "Voximplant credentials are not configured: set VOXIMPLANT_CREDENTIALS "
            "to the path of the service account's credentials.json"
        )
    return load_credentials(path)


def parse_credentials(data: Any, *, source: str) -> ServiceAccountCredentials:
    """Validate the decoded JSON, flat or wrapped in ``result`` as CreateKey returns it."""
    if isinstance(data, dict) and isinstance(data.get("result"), dict):
        data = data["result"]
    if not isinstance(data, dict):
        raise ConfigurationError(f"Voximplant credentials file {source} is not a JSON object")
    return ServiceAccountCredentials(
        account_id=_account_id(data, source),
        key_id=_text(data, "key_id", source),
        private_key=_private_key(data, source),
        account_email=_optional_text(data, "account_email", source),
        source=source,
    )


def _problem(source: str, name: str, what: str) -> ConfigurationError:
    return ConfigurationError(f"Voximplant credentials file {source}: field {name!r} {what}")


def _account_id(data: dict[str, Any], source: str) -> int:
    value = data.get("account_id")
    if value is None:
        raise _problem(source, "account_id", "is missing")
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise _problem(source, "account_id", "must be a positive integer")
    return value


def _text(data: dict[str, Any], name: str, source: str) -> str:
    value = data.get(name)
    if value is None:
        raise _problem(source, name, "is missing")
    if not isinstance(value, str) or not value.strip():
        raise _problem(source, name, "must be a non-empty string")
    return value


def _optional_text(data: dict[str, Any], name: str, source: str) -> str | None:
    value = data.get(name)
    if value is not None and not isinstance(value, str):
        raise _problem(source, name, "must be a string")
    return value


def _private_key(data: dict[str, Any], source: str) -> RSAPrivateKey:
    pem = _text(data, "private_key", source)
    try:
        key = serialization.load_pem_private_key(pem.encode("utf-8"), password=None)
    except (ValueError, TypeError):
        # Not chained and not quoted: the parser's message may echo the key material.
        raise _problem(source, "private_key", "is not an unencrypted PEM private key") from None
    except UnsupportedAlgorithm:
        raise _problem(source, "private_key", "uses an unsupported key type") from None
    if not isinstance(key, RSAPrivateKey):
        raise _problem(source, "private_key", "is not an RSA key (RS256 needs RSA)")
    return key
