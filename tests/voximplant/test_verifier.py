"""The sandbox checks tokens as Voximplant documents: each refusal has its code."""

from __future__ import annotations

import json

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.voximplant.conftest import FakeClock
from worker.sandbox.voximplant import ApiError, SandboxAccount, TokenVerifier

ACCOUNT = 4321
KID = "kid-1"


@pytest.fixture
def verifier(rsa_key: rsa.RSAPrivateKey, clock: FakeClock) -> TokenVerifier:
    return TokenVerifier(account_id=ACCOUNT, keys={KID: rsa_key.public_key()}, clock=clock)


def _token(
    key: rsa.RSAPrivateKey,
    claims: dict[str, object],
    *,
    kid: str = KID,
    alg: str = "RS256",
) -> str:
    payload = json.dumps(claims).encode()
    return jwt.PyJWS().encode(payload, key, algorithm=alg, headers={"kid": kid})


def _claims(clock: FakeClock, **over: object) -> dict[str, object]:
    now = int(clock.now)
    return {"iss": ACCOUNT, "iat": now - 5, "exp": now + 600, **over}


def _code(verifier: TokenVerifier, token: str) -> int:
    with pytest.raises(ApiError) as info:
        verifier.verify(token)
    return info.value.code


def test_a_good_token_passes(
    verifier: TokenVerifier, rsa_key: rsa.RSAPrivateKey, clock: FakeClock
) -> None:
    assert verifier.verify(_token(rsa_key, _claims(clock)))["iss"] == ACCOUNT
    assert verifier.verify(_token(rsa_key, _claims(clock, iss=str(ACCOUNT))))["iss"] == "4321"
    assert verifier.signatures_verified == 2


def test_bad_signature_is_100(
    verifier: TokenVerifier, foreign_key: rsa.RSAPrivateKey, clock: FakeClock
) -> None:
    assert _code(verifier, _token(foreign_key, _claims(clock))) == 100


@pytest.mark.parametrize("iss", [1234, "1234", "4321x", True, None])
def test_wrong_issuer_is_100(
    verifier: TokenVerifier, rsa_key: rsa.RSAPrivateKey, clock: FakeClock, iss: object
) -> None:
    assert _code(verifier, _token(rsa_key, _claims(clock, iss=iss))) == 100


def test_unknown_key_is_433(
    verifier: TokenVerifier, rsa_key: rsa.RSAPrivateKey, clock: FakeClock
) -> None:
    assert _code(verifier, _token(rsa_key, _claims(clock), kid="other")) == 433


@pytest.mark.parametrize("token", ["", "not-a-jwt", "a.b.c", "eyJhbGciOiJSUzI1NiJ9.e30"])
def test_malformed_is_447(verifier: TokenVerifier, token: str) -> None:
    assert _code(verifier, token) == 447


def test_wrong_algorithm_is_447(verifier: TokenVerifier, clock: FakeClock) -> None:
    token = jwt.PyJWS().encode(
        json.dumps(_claims(clock)).encode(), "x" * 32, algorithm="HS256", headers={"kid": KID}
    )
    assert _code(verifier, token) == 447


@pytest.mark.parametrize("missing", ["iat", "exp"])
def test_missing_times_are_447(
    verifier: TokenVerifier, rsa_key: rsa.RSAPrivateKey, clock: FakeClock, missing: str
) -> None:
    claims = _claims(clock)
    del claims[missing]
    assert _code(verifier, _token(rsa_key, claims)) == 447


def test_lifetime_over_3600_is_454(
    verifier: TokenVerifier, rsa_key: rsa.RSAPrivateKey, clock: FakeClock
) -> None:
    now = int(clock.now)
    assert verifier.verify(_token(rsa_key, _claims(clock, iat=now, exp=now + 3600)))
    assert _code(verifier, _token(rsa_key, _claims(clock, iat=now, exp=now + 3601))) == 454


def test_issued_in_the_future_is_455(
    verifier: TokenVerifier, rsa_key: rsa.RSAPrivateKey, clock: FakeClock
) -> None:
    now = int(clock.now)
    assert _code(verifier, _token(rsa_key, _claims(clock, iat=now + 10, exp=now + 60))) == 455


def test_expired_is_456(
    verifier: TokenVerifier, rsa_key: rsa.RSAPrivateKey, clock: FakeClock
) -> None:
    token = _token(rsa_key, _claims(clock))
    clock.advance(600)
    assert _code(verifier, token) == 456


@pytest.mark.parametrize("header", [None, "", "Bearer", "Basic abc", "Bearer   "])
def test_no_bearer_token_is_100(verifier: TokenVerifier, header: str | None) -> None:
    with pytest.raises(ApiError) as info:
        verifier.verify_header(header)
    assert info.value.code == 100


def test_envelope_shape() -> None:
    assert ApiError(456, "Token has expired").envelope() == {
        "error": {"msg": "Token has expired", "code": 456},
        "errors": [{"msg": "Token has expired", "code": 456}],
    }


async def test_the_key_is_reused_across_restarts(
    account: SandboxAccount, rsa_key: rsa.RSAPrivateKey
) -> None:
    again = SandboxAccount(store=account.store, directory=account.directory)
    assert again.key_id == account.key_id
    assert again.credentials_path == account.credentials_path
    assert (account.credentials_path.stat().st_mode & 0o777) == 0o600
