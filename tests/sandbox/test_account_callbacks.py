"""The sandbox account POSTs signed registration callbacks, and retries until answered 200."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.sandbox.conftest import Receiver, eventually
from worker.adapters.voximplant import TokenCache, load_credentials
from worker.sandbox.registrations import DEFAULT_PASSWORD, DEFAULT_SERVER, RegistrationStore
from worker.sandbox.voximplant import SandboxAccount, admin

SALT = "pepper-CANARY-salt"


@pytest.fixture
def store() -> RegistrationStore:
    return RegistrationStore(wait_seconds=0.05, progress_seconds=0.05)


@pytest.fixture
async def account(
    store: RegistrationStore, tmp_path: Path, rsa_key: rsa.RSAPrivateKey
) -> AsyncIterator[SandboxAccount]:
    async with SandboxAccount(
        store=store, directory=tmp_path, callback_backoff=0.05, private_key=rsa_key
    ) as started:
        yield started


def _callbacks(receiver: Receiver) -> list[dict[str, Any]]:
    return [c for r in receiver.requests for c in json.loads(r["raw"])["callbacks"]]


def _verify(callback: dict[str, Any], account: SandboxAccount, salt: str = SALT) -> None:
    text = f"{salt}{account.account_id}{account.api_key}{callback['callback_id']}"
    assert callback["hash"] == hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()
    assert callback["account_id"] == account.account_id
    assert callback["account_email"] == account.account_email
    assert callback["account_name"] == account.account_name


async def test_a_failing_registration_is_pushed_signed(
    account: SandboxAccount, store: RegistrationStore, receiver: Receiver
) -> None:
    account.set_callback(receiver.url, SALT)
    good = store.create(DEFAULT_SERVER, "100", DEFAULT_PASSWORD).reg_id
    bad = store.create(DEFAULT_SERVER, "101", "wrong").reg_id
    await eventually(lambda: len(_callbacks(receiver)) == 1)
    (callback,) = _callbacks(receiver)
    assert receiver.requests[0]["content_type"] == "application/json"
    _verify(callback, account)
    assert callback["type"] == "sip_registration_fail"
    assert callback["sip_registration_fail"] == {
        "sip_registrations": [
            {"sip_registration_id": bad, "status_code": "401", "error_message": "Unauthorized"}
        ]
    }
    # the good one settles successfully: nothing to tell; fixing the bad one is a recovery
    store.reregister(bad, DEFAULT_SERVER, "101", DEFAULT_PASSWORD)
    await eventually(lambda: len(_callbacks(receiver)) == 2)
    recovered = _callbacks(receiver)[1]
    _verify(recovered, account)
    assert recovered["callback_id"] > callback["callback_id"]
    assert recovered["sip_registration_recovered"] == {
        "sip_registrations": [{"sip_registration_id": bad}]
    }
    told = [
        item["sip_registration_id"]
        for c in _callbacks(receiver)
        for item in c[c["type"]]["sip_registrations"]
    ]
    assert told == [bad, bad]
    assert good not in told
    # the receiver has the request before the account has read the answer
    await eventually(lambda: account.stats()["callbacks_delivered"] == 2)
    stats = account.stats()
    assert (stats["callbacks_fail"], stats["callbacks_recovered"]) == (1, 1)
    assert stats["callbacks_pending"] == 0


async def test_diverge_and_converge_push_fail_and_recovered(
    account: SandboxAccount,
    store: RegistrationStore,
    receiver: Receiver,
    session: aiohttp.ClientSession,
) -> None:
    reg_id = store.create(DEFAULT_SERVER, "100", DEFAULT_PASSWORD).reg_id
    await eventually(lambda: store.settles_in(reg_id) == 0)
    async with session.post(
        account.admin_url + "callback", json={"url": receiver.url, "salt": SALT}
    ) as response:
        assert response.status == 200
    await admin.diverge(session, account.admin_url, reg_id, successful=False, status_code=403)
    await eventually(lambda: len(_callbacks(receiver)) == 1)
    await admin.converge(session, account.admin_url, reg_id)
    await eventually(lambda: len(_callbacks(receiver)) == 2)
    fail, recovered = _callbacks(receiver)
    for callback in (fail, recovered):
        _verify(callback, account)
    assert fail["sip_registration_fail"]["sip_registrations"][0]["status_code"] == "403"
    assert recovered["type"] == "sip_registration_recovered"
    await eventually(lambda: account.stats()["callbacks_delivered"] == 2)
    stats = await admin.stats(session, account.admin_url)
    assert (stats["callbacks_delivered"], stats["callbacks_pending"]) == (2, 0)


async def test_undelivered_callbacks_are_retried_with_the_same_ids(
    account: SandboxAccount, store: RegistrationStore, receiver: Receiver
) -> None:
    receiver.statuses = [500, 503]
    account.set_callback(receiver.url, SALT)
    first = store.create(DEFAULT_SERVER, "100", DEFAULT_PASSWORD).reg_id
    second = store.create(DEFAULT_SERVER, "101", DEFAULT_PASSWORD).reg_id
    await eventually(lambda: store.settles_in(second) == 0)
    store.diverge(first, successful=False, status_code=408)
    await eventually(lambda: len(receiver.requests) >= 1)
    store.diverge(second, successful=False, status_code=408)
    await eventually(lambda: account.stats()["callbacks_delivered"] == 2)
    bodies = [json.loads(r["raw"])["callbacks"] for r in receiver.requests]
    assert len(bodies) == 3
    assert [c["callback_id"] for c in bodies[0]] == [1]
    assert [c["callback_id"] for c in bodies[-1]] == [1, 2]  # several callbacks, one request
    assert bodies[-1][0] == bodies[0][0]  # resent unchanged
    for callback in bodies[-1]:
        _verify(callback, account)
    stats = account.stats()
    assert stats["callback_failed_requests"] == 2
    assert stats["callback_requests"] == 3
    assert stats["callbacks_pending"] == 0


async def test_set_account_info_through_the_api(
    account: SandboxAccount,
    store: RegistrationStore,
    receiver: Receiver,
    session: aiohttp.ClientSession,
) -> None:
    tokens = TokenCache(credentials=load_credentials(account.credentials_path))
    headers = {"Authorization": f"Bearer {tokens.get()}"}

    async def call(method: str, **params: str) -> dict[str, Any]:
        async with session.post(account.api_url + method, data=params, headers=headers) as r:
            body: dict[str, Any] = await r.json()
            return body

    assert await call("SetAccountInfo", callback_url=receiver.url, callback_salt=SALT) == {
        "result": 1
    }
    info = await call("GetAccountInfo")
    assert info["result"]["callback_url"] == receiver.url
    assert SALT not in json.dumps(info)
    assert account.api_key not in json.dumps(info)
    too_long = await call("SetAccountInfo", callback_salt="x" * 41)
    assert too_long["error"]["code"] == 101
    store.create(DEFAULT_SERVER, "100", "wrong")
    await eventually(lambda: len(_callbacks(receiver)) == 1)
    _verify(_callbacks(receiver)[0], account)


async def test_nothing_is_sent_without_a_url(
    account: SandboxAccount, store: RegistrationStore, receiver: Receiver
) -> None:
    reg_id = store.create(DEFAULT_SERVER, "100", "wrong").reg_id
    await eventually(lambda: store.settles_in(reg_id) == 0)
    await eventually(lambda: account.callbacks.seen(reg_id) == "fail")
    assert account.stats()["callbacks_made"] == 0
    account.set_callback(receiver.url, "")
    store.diverge(reg_id, successful=True)  # recovers: the failure before was seen
    await eventually(lambda: len(_callbacks(receiver)) == 1)
    assert _callbacks(receiver)[0]["type"] == "sip_registration_recovered"
    _verify(_callbacks(receiver)[0], account, salt="")
