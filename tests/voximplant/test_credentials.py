"""credentials.json: both shapes load; every problem names the file and the field, never the key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from worker.adapters.voximplant import load_configured_credentials, load_credentials
from worker.errors import ConfigurationError
from worker.settings import Settings


def _pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def _document(key: rsa.RSAPrivateKey) -> dict[str, Any]:
    return {
        "account_email": "ops@example.com",
        "account_id": 4321,
        "key_id": "1a2b3c4d-0000-4000-8000-000000000001",
        "private_key": _pem(key),
    }


def _write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "credentials.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


@pytest.mark.parametrize("wrapped", [False, True])
def test_flat_and_wrapped_files_load(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey, wrapped: bool
) -> None:
    document = _document(rsa_key)
    path = _write(tmp_path, {"result": document} if wrapped else document)
    creds = load_credentials(path)
    assert creds.account_id == 4321
    assert creds.key_id == document["key_id"]
    assert creds.account_email == "ops@example.com"
    assert creds.private_key.public_key().public_numbers() == rsa_key.public_key().public_numbers()
    assert "PRIVATE KEY" not in repr(creds)
    assert str(path) in repr(creds)


def test_numeric_string_account_id_is_accepted(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    path = _write(tmp_path, {**_document(rsa_key), "account_id": "4321"})
    assert load_credentials(path).account_id == 4321


def test_missing_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.json"
    with pytest.raises(ConfigurationError, match=r"nope\.json"):
        load_credentials(path)


def test_invalid_json_names_the_file_and_hides_the_content(tmp_path: Path) -> None:
    path = _write(tmp_path, '{"private_key": "-----BEGIN SECRET-CANARY')
    with pytest.raises(ConfigurationError) as info:
        load_credentials(path)
    assert str(path) in str(info.value)
    assert "SECRET-CANARY" not in str(info.value)
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__


@pytest.mark.parametrize("field", ["account_id", "key_id", "private_key"])
def test_missing_field_names_the_file_and_field(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey, field: str
) -> None:
    document = _document(rsa_key)
    del document[field]
    path = _write(tmp_path, document)
    with pytest.raises(ConfigurationError) as info:
        load_credentials(path)
    assert str(path) in str(info.value)
    assert repr(field) in str(info.value)
    assert "missing" in str(info.value)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("account_id", "abc"),
        ("account_id", True),
        ("account_id", -3),
        ("key_id", ""),
        ("key_id", 17),
        ("account_email", 5),
    ],
)
def test_wrong_field_types_are_refused(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey, field: str, value: object
) -> None:
    path = _write(tmp_path, {**_document(rsa_key), field: value})
    with pytest.raises(ConfigurationError, match=field):
        load_credentials(path)


def test_a_broken_key_is_refused_without_quoting_it(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey
) -> None:
    broken = "-----BEGIN PRIVATE KEY-----\nKEY-CANARY-0123456789\n-----END PRIVATE KEY-----\n"
    path = _write(tmp_path, {**_document(rsa_key), "private_key": broken})
    with pytest.raises(ConfigurationError, match="'private_key'") as info:
        load_credentials(path)
    assert "KEY-CANARY" not in str(info.value)
    assert "KEY-CANARY" not in repr(info.value)
    assert info.value.__cause__ is None


def test_a_non_rsa_key_is_refused(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    ec_pem = _pem(ec.generate_private_key(ec.SECP256R1()))
    path = _write(tmp_path, {**_document(rsa_key), "private_key": ec_pem})
    with pytest.raises(ConfigurationError, match="not an RSA key"):
        load_credentials(path)


def test_not_an_object(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="not a JSON object"):
        load_credentials(_write(tmp_path, "[1, 2]"))


def test_settings_without_credentials_is_a_start_up_error() -> None:
    settings = Settings(voximplant_credentials=None)
    with pytest.raises(ConfigurationError, match="VOXIMPLANT_CREDENTIALS"):
        load_configured_credentials(settings.voximplant_credentials)


def test_settings_point_at_the_file(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    path = _write(tmp_path, _document(rsa_key))
    settings = Settings(voximplant_credentials=path)
    assert load_configured_credentials(settings.voximplant_credentials).account_id == 4321
