"""Every typed method against the sandbox portal, through an inbound webhook."""

from __future__ import annotations

import pytest

from tests.bitrix24.conftest import GOOD, eventually
from worker.adapters.bitrix24 import BatchCall, Bitrix24Client, SipStatus
from worker.errors import BadInput, PermanentError
from worker.sandbox.portal import SandboxPortal
from worker.sandbox.registrations import RegistrationStore


async def _settled(client: Bitrix24Client, reg_id: int) -> SipStatus:
    found: list[SipStatus] = []

    async def check() -> bool:
        found.append(await client.sip_status(reg_id))
        return found[-1].status_result in ("success", "error")

    await eventually(check)
    return found[-1]


async def test_connector_status(client: Bitrix24Client) -> None:
    status = await client.connector_status()
    assert status.paid
    assert status.paid_date_end is not None


async def test_add_registers_and_settles(
    client: Bitrix24Client, registrations: RegistrationStore
) -> None:
    line = await client.sip_add(title="Main", **GOOD)
    assert line.line_type == "cloud"
    assert line.reg_id is not None
    first = await client.sip_status(line.reg_id)
    assert first.status_result in ("wait", "in_progress")
    settled = await _settled(client, line.reg_id)
    assert (settled.status_result, settled.status_code) == ("success", 200)
    reg = registrations.get(line.reg_id)
    assert reg is not None
    assert reg.login == "100"


@pytest.mark.parametrize(
    ("changes", "code"),
    [({"password": "wrong"}, 401), ({"login": "*nobody*", "server": "elsewhere.test"}, 408)],
)
async def test_bad_credentials_fail_with_a_sip_code(
    client: Bitrix24Client, changes: dict[str, str], code: int
) -> None:
    line = await client.sip_add(title="Bad", **{**GOOD, **changes})
    assert line.reg_id is not None
    settled = await _settled(client, line.reg_id)
    assert (settled.status_result, settled.status_code) == ("error", code)


async def test_update_re_registers_on_credential_change(client: Bitrix24Client) -> None:
    line = await client.sip_add(title="Upd", **{**GOOD, "password": "wrong"})
    assert line.reg_id is not None
    assert (await _settled(client, line.reg_id)).status_result == "error"
    await client.sip_update(line.config_id, password=GOOD["password"])
    assert (await client.sip_status(line.reg_id)).status_result == "wait"
    assert (await _settled(client, line.reg_id)).status_result == "success"
    await client.sip_update(line.config_id, title="Renamed")  # no re-registration
    assert (await client.sip_status(line.reg_id)).status_result == "success"
    [seen] = await client.sip_get({"CONFIG_ID": line.config_id})
    assert seen.title == "Renamed"


async def test_update_needs_a_change(client: Bitrix24Client) -> None:
    with pytest.raises(BadInput) as caught:
        await client.sip_update(1)
    assert caught.value.reason == "nothing_to_update"


async def test_delete_removes_line_and_registration(
    client: Bitrix24Client, registrations: RegistrationStore
) -> None:
    line = await client.sip_add(title="Gone", **GOOD)
    assert line.reg_id is not None
    await client.sip_delete(line.config_id)
    assert registrations.get(line.reg_id) is None
    assert await client.sip_get() == []
    with pytest.raises(PermanentError) as caught:
        await client.sip_status(line.reg_id)
    assert caught.value.code == "REG_ID_NOT_FOUND"


async def test_refusals_are_permanent_with_their_code(client: Bitrix24Client) -> None:
    line = await client.sip_add(title="Dup", **GOOD)
    cases = [
        (client.sip_add(title="dup", **GOOD), "TITLE_EXISTS"),
        (client.sip_add(title="x", server="", login="1", password="p"), "CHECK_FIELDS_ERROR"),
        (
            client.sip_add(title="y", server="s", login="1" * 101, password="p"),
            "CHECK_FIELDS_ERROR",
        ),
        (client.sip_update(999, title="z"), "ERROR_NOT_FOUND"),
        (client.sip_delete(999), "ERROR_NOT_FOUND"),
        (client.sip_status(1), "REG_ID_NOT_FOUND"),
    ]
    for call, code in cases:
        with pytest.raises(PermanentError) as caught:
            await call
        assert caught.value.code == code
    other = await client.sip_add(title="Other", **GOOD)
    with pytest.raises(PermanentError) as caught:
        await client.sip_update(other.config_id, title=line.title)
    assert caught.value.code == "TITLE_EXISTS"


async def test_cloud_pbx_limit(client: Bitrix24Client, portal: SandboxPortal) -> None:
    for n in range(portal.options.cloud_pbx_limit):
        await client.sip_add(title=f"cloud {n}", **GOOD)
    with pytest.raises(PermanentError) as caught:
        await client.sip_add(title="one too many", **GOOD)
    assert caught.value.code == "MAX_CLOUD_PBX"
    office = await client.sip_add(title="office", line_type="office", **GOOD)
    assert office.line_type == "office"
    assert office.reg_id is None


async def test_sip_get_reads_every_page(client: Bitrix24Client, portal: SandboxPortal) -> None:
    calls = [
        BatchCall(
            "voximplant.sip.add",
            {
                "TYPE": "office",
                "TITLE": f"office {n:03}",
                **{k.upper(): v for k, v in GOOD.items()},
            },
        )
        for n in range(120)
    ]
    assert all(outcome.ok for outcome in await client.batch(calls))
    before = portal.counters.by_method["voximplant.sip.get"]
    lines = await client.sip_get()
    assert [line.title for line in lines] == [f"office {n:03}" for n in range(120)]
    assert portal.counters.by_method["voximplant.sip.get"] - before == 3
    only = await client.sip_get({"TITLE": "office 077"})
    assert [line.title for line in only] == ["office 077"]
