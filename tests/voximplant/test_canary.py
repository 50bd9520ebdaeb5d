"""The private key and the token never reach a log line, an exception text or a repr."""

from __future__ import annotations

import logging
import traceback

import aiohttp
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.voximplant.conftest import make_lines
from worker.adapters.voximplant import (
    ServiceAccountCredentials,
    TokenCache,
    VoximplantClient,
)
from worker.errors import SiplineError
from worker.sandbox.registrations import RegistrationStore
from worker.sandbox.voximplant import SandboxAccount


def _secrets(key: rsa.RSAPrivateKey, token: str) -> list[str]:
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    body_lines = [line for line in pem.splitlines() if line and "-----" not in line]
    _header, payload, signature = token.split(".")
    # Any one line of the key, or any part of the token, is a leak.
    return [*body_lines, token, payload, signature]


def _texts(error: BaseException) -> list[str]:
    texts = [str(error), repr(error), "".join(traceback.format_exception(error))]
    if isinstance(error, SiplineError):
        texts.append(f"{error.code}: {error.message}")  # what an event or header carries
    return texts


async def test_canary_never_shows(
    caplog: pytest.LogCaptureFixture,
    session: aiohttp.ClientSession,
    account: SandboxAccount,
    store: RegistrationStore,
    credentials: ServiceAccountCredentials,
    tokens: TokenCache,
    rsa_key: rsa.RSAPrivateKey,
) -> None:
    caplog.set_level(logging.DEBUG)
    (reg_id,) = make_lines(store, 1)
    client = VoximplantClient(
        session=session, tokens=tokens, api_url=account.api_url, total_timeout=0.3
    )
    seen_tokens = {tokens.get()}
    errors: list[BaseException] = []
    assert await client.get_sip_registration(reg_id) is not None
    # Every failure path, including the ones that re-sign.
    for inject in (
        lambda: account.faults.api_error(456, times=2),
        lambda: account.faults.api_error(100),
        lambda: account.faults.http_status(401, times=2),
        lambda: account.faults.http_status(503),
        account.faults.html,
        account.faults.drop,
        lambda: account.faults.api_error(447, "bad token eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOjF9.c2ln"),
        lambda: setattr(account.faults, "latency", 1.0),
    ):
        inject()
        try:
            await client.get_sip_registration(reg_id)
        except SiplineError as exc:
            errors.append(exc)
        seen_tokens.add(tokens.get())
        account.faults.clear()
    assert len(errors) == 7
    assert tokens.signatures >= 4

    canaries = [s for token in seen_tokens for s in _secrets(rsa_key, token)]
    canaries.append("eyJpc3MiOjF9")  # the token-like text in an injected server message
    haystacks = [
        *(r.getMessage() for r in caplog.records),
        *(str(r.args) for r in caplog.records),
        *(r.exc_text or "" for r in caplog.records),
        *(text for e in errors for text in _texts(e)),
        repr(client),
        repr(tokens),
        repr(credentials),
        repr(account),
        str(credentials),
    ]
    assert any("Voximplant refused the token" in h for h in haystacks)
    for canary in canaries:
        for haystack in haystacks:
            assert canary not in haystack
