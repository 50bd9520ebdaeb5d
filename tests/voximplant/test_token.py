"""The JWT: what Voximplant checks, signed once per lifetime, shared by concurrent callers."""

from __future__ import annotations

import asyncio
import threading

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.voximplant.conftest import FakeClock
from worker.adapters.voximplant import (
    MAX_TOKEN_LIFETIME,
    ServiceAccountCredentials,
    TokenCache,
    sign_token,
)


def test_token_checked_independently_with_pyjwt(
    credentials: ServiceAccountCredentials, clock: FakeClock, rsa_key: rsa.RSAPrivateKey
) -> None:
    token = TokenCache(credentials=credentials, clock=clock).get()
    header = jwt.get_unverified_header(token)
    assert header == {"alg": "RS256", "typ": "JWT", "kid": credentials.key_id}
    claims = jwt.decode(
        token,
        rsa_key.public_key(),
        algorithms=["RS256"],
        options={"verify_exp": False, "verify_iat": False},
    )
    assert set(claims) == {"iss", "iat", "exp"}
    assert claims["iss"] == credentials.account_id
    assert claims["iat"] == int(clock.now) - 5  # back-dated against clock skew
    assert claims["exp"] > clock.now
    assert claims["exp"] - claims["iat"] <= MAX_TOKEN_LIFETIME


def test_one_signature_per_lifetime(
    credentials: ServiceAccountCredentials, clock: FakeClock
) -> None:
    cache = TokenCache(credentials=credentials, lifetime=3600, clock=clock)
    first = cache.get()
    for _ in range(1000):
        clock.advance(3.0)  # 3000 s: still well inside the lifetime minus the margin
        assert cache.get() == first
    assert cache.signatures == 1


def test_re_signs_shortly_before_expiry(
    credentials: ServiceAccountCredentials, clock: FakeClock
) -> None:
    cache = TokenCache(credentials=credentials, lifetime=600, refresh_margin=30, clock=clock)
    first = cache.get()
    clock.advance(600 - 5 - 31)
    assert cache.get() == first
    clock.advance(2)
    second = cache.get()
    assert second != first
    assert cache.signatures == 2
    claims = jwt.decode(second, options={"verify_signature": False})
    assert claims["iat"] == int(clock.now) - 5


def test_invalidate_drops_only_the_current_token(
    credentials: ServiceAccountCredentials, clock: FakeClock
) -> None:
    cache = TokenCache(credentials=credentials, clock=clock)
    first = cache.get()
    cache.invalidate("some-older-token")
    assert cache.get() == first
    cache.invalidate(first)
    clock.advance(1)
    second = cache.get()
    assert second != first
    cache.invalidate(first)  # a late caller with the old token: no second re-sign
    assert cache.get() == second
    assert cache.signatures == 2


async def test_concurrent_coroutines_share_one_token(
    credentials: ServiceAccountCredentials, clock: FakeClock
) -> None:
    cache = TokenCache(credentials=credentials, clock=clock)

    async def one() -> str:
        await asyncio.sleep(0)
        return cache.get()

    tokens = await asyncio.gather(*(one() for _ in range(200)))
    assert len(set(tokens)) == 1
    assert cache.signatures == 1


def test_concurrent_threads_share_one_token(
    credentials: ServiceAccountCredentials, clock: FakeClock
) -> None:
    cache = TokenCache(credentials=credentials, clock=clock)
    barrier = threading.Barrier(8)
    seen: list[str] = []

    def worker() -> None:
        barrier.wait(timeout=10)
        seen.append(cache.get())

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert len(seen) == 8
    assert len(set(seen)) == 1
    assert cache.signatures == 1


@pytest.mark.parametrize("lifetime", [0, 3601])
def test_lifetime_is_bounded(credentials: ServiceAccountCredentials, lifetime: int) -> None:
    with pytest.raises(ValueError):
        TokenCache(credentials=credentials, lifetime=lifetime)
    with pytest.raises(ValueError):
        sign_token(credentials, issued_at=0, lifetime=lifetime)


def test_repr_never_shows_the_token(
    credentials: ServiceAccountCredentials, clock: FakeClock
) -> None:
    cache = TokenCache(credentials=credentials, clock=clock)
    token = cache.get()
    assert token not in repr(cache)
    assert "signatures=1" in repr(cache)
