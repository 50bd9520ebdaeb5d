"""Calls per second against the sandbox account: the cached token vs a token per request.

sipline signs one token per lifetime (:class:`TokenCache`).  The official Python client
signs a fresh token on every request, handing PyJWT the PEM text, so every call also
parses (and validates) the RSA key; a third mode signs per request with the key parsed
once, to separate the signature's cost from the parsing's.  All modes drive the same client
against the same in-process sandbox, which verifies every signature as Voximplant does.

    .venv/bin/python -m benchmarks.voximplant_token [--seconds 3] [--concurrency 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from worker.adapters.voximplant import (
    ServiceAccountCredentials,
    TokenCache,
    TokenSource,
    VoximplantClient,
    load_credentials,
    sign_token,
)
from worker.sandbox.registrations import RegistrationStore
from worker.sandbox.voximplant import SandboxAccount


class SignFromPem:
    """The official Python client: PEM text to PyJWT, a 29 s token, on every request."""

    def __init__(self, credentials_path: Path) -> None:
        document = json.loads(credentials_path.read_text())
        self._pem: str = document["private_key"]
        self._key_id: str = document["key_id"]
        self._account_id: int = document["account_id"]
        self.signatures = 0

    def get(self) -> str:
        now = int(time.time())
        key = serialization.load_pem_private_key(self._pem.encode(), password=None)
        assert isinstance(key, rsa.RSAPrivateKey)
        claims = {"iss": self._account_id, "iat": now - 5, "exp": now + 24}
        self.signatures += 1
        return jwt.PyJWS().encode(
            json.dumps(claims).encode(), key, algorithm="RS256", headers={"kid": self._key_id}
        )

    def invalidate(self, token: str) -> None:
        return None


class SignParsedKey:
    """A token per request, but with the key parsed once: the signature's cost alone."""

    def __init__(self, credentials: ServiceAccountCredentials) -> None:
        self._credentials = credentials
        self.signatures = 0

    def get(self) -> str:
        self.signatures += 1
        return sign_token(self._credentials, issued_at=int(time.time()) - 5, lifetime=29)

    def invalidate(self, token: str) -> None:
        return None


@dataclass(frozen=True)
class Result:
    name: str
    calls: int  # the warm-up call included
    rate: float  # timed calls only
    signatures: int
    verified: int


async def _run(
    name: str,
    session: aiohttp.ClientSession,
    account: SandboxAccount,
    tokens: TokenSource,
    reg_id: int,
    seconds: float,
    concurrency: int,
) -> Result:
    client = VoximplantClient(session=session, tokens=tokens, api_url=account.api_url)
    signed_before, verified_before = tokens.signatures, account.signatures_verified
    await client.get_sip_registration(reg_id)  # warm the connection pool and the cache
    calls = 0
    started = time.perf_counter()
    deadline = started + seconds

    async def worker() -> None:
        nonlocal calls
        while time.perf_counter() < deadline:
            assert await client.get_sip_registration(reg_id) is not None
            calls += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    return Result(
        name,
        calls + 1,
        calls / elapsed,
        tokens.signatures - signed_before,
        account.signatures_verified - verified_before,
    )


async def main(seconds: float, concurrency: int) -> list[Result]:
    store = RegistrationStore(wait_seconds=0.0, progress_seconds=0.0)
    reg_id = store.create("sip.sandbox.test", "bench", "sandbox-pass").reg_id
    with tempfile.TemporaryDirectory() as tmp:
        account = SandboxAccount(store=store, directory=Path(tmp))
        await account.start()
        try:
            credentials = load_credentials(account.credentials_path)
            modes: list[tuple[str, TokenSource]] = [
                ("cached token (sipline)", TokenCache(credentials=credentials)),
                ("token per request, key parsed once", SignParsedKey(credentials)),
                (
                    "token per request from PEM (official client)",
                    SignFromPem(account.credentials_path),
                ),
            ]
            async with aiohttp.ClientSession() as session:
                return [
                    await _run(name, session, account, tokens, reg_id, seconds, concurrency)
                    for name, tokens in modes
                ]
        finally:
            await account.stop()


def report(results: list[Result], concurrency: int) -> None:
    print(
        f"GetSipRegistrations against the in-process sandbox, {concurrency} concurrent callers, "
        "RSA-2048"
    )
    print(f"  {'mode':46} {'calls':>7} {'calls/s':>9} {'signed':>7} {'verified':>9}")
    for r in results:
        print(f"  {r.name:46} {r.calls:7d} {r.rate:9.0f} {r.signatures:7d} {r.verified:9d}")
    cached = results[0]
    for other in results[1:]:
        print(f"  ratio cached / {other.name}: {cached.rate / other.rate:.1f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Voximplant token cache benchmark")
    parser.add_argument("--seconds", type=float, default=3.0, help="duration of each mode")
    parser.add_argument("--concurrency", type=int, default=10)
    args = parser.parse_args()
    report(asyncio.run(main(args.seconds, args.concurrency)), args.concurrency)
