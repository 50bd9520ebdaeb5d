"""The sandbox's real failure: the registrar refuses a working registration, both sides
report it at once, and the account pushes ``sip_registration_fail`` (then recovered)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.sandbox.conftest import Receiver, eventually
from worker.sandbox.registrations import DEFAULT_PASSWORD, DEFAULT_SERVER, RegistrationStore
from worker.sandbox.voximplant import SandboxAccount, admin


@pytest.fixture
def registrations() -> RegistrationStore:
    return RegistrationStore(wait_seconds=0.05, progress_seconds=0.05)


@pytest.fixture
async def account(
    registrations: RegistrationStore, tmp_path: Path, rsa_key: rsa.RSAPrivateKey
) -> AsyncIterator[SandboxAccount]:
    async with SandboxAccount(
        store=registrations, directory=tmp_path, callback_backoff=0.05, private_key=rsa_key
    ) as started:
        yield started


def _callbacks(receiver: Receiver) -> list[dict[str, Any]]:
    return [c for r in receiver.requests for c in json.loads(r["raw"])["callbacks"]]


async def test_a_refused_registration_fails_on_both_sides_and_is_pushed(
    account: SandboxAccount,
    registrations: RegistrationStore,
    receiver: Receiver,
    session: aiohttp.ClientSession,
) -> None:
    reg_id = registrations.create(DEFAULT_SERVER, "100", DEFAULT_PASSWORD).reg_id
    await eventually(lambda: registrations.settles_in(reg_id) == 0)
    account.set_callback(receiver.url, "s")
    await admin.refuse(session, account.admin_url, reg_id, status_code=401, error_message="No")
    reg = registrations.get(reg_id)
    assert reg is not None
    b24 = registrations.bitrix24_view(reg)
    vox = registrations.voximplant_view(reg)
    assert vox is not None
    assert (b24.status_result, b24.status_code, b24.error_message) == ("error", 401, "No")
    assert (vox.successful, vox.in_progress, vox.status_code) == (False, False, 401)
    await eventually(lambda: len(_callbacks(receiver)) == 1)
    (fail,) = _callbacks(receiver)
    assert fail["sip_registration_fail"]["sip_registrations"] == [
        {"sip_registration_id": reg_id, "status_code": "401", "error_message": "No"}
    ]
    await admin.admit(session, account.admin_url, reg_id)
    assert registrations.bitrix24_view(reg).status_result == "success"
    await eventually(lambda: len(_callbacks(receiver)) == 2)
    assert _callbacks(receiver)[1]["type"] == "sip_registration_recovered"
    with pytest.raises(admin.AdminError, match="404"):
        await admin.refuse(session, account.admin_url, 999_999)
