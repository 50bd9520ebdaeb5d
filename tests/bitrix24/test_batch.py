"""``batch``: 50 commands to a request, results and errors per call, in order."""

from __future__ import annotations

import aiohttp
import pytest

from tests.bitrix24.conftest import GOOD, SettingsFactory, client_for
from worker.adapters.bitrix24 import BatchCall, Bitrix24Client, SipStatus
from worker.adapters.bitrix24.batch import encode_query
from worker.errors import PermanentError, SiplineError, TransientError
from worker.sandbox.portal import SandboxPortal


async def test_120_calls_are_3_requests(client: Bitrix24Client, portal: SandboxPortal) -> None:
    calls = [BatchCall("server.time") if n % 2 else BatchCall("scope") for n in range(120)]
    outcomes = await client.batch(calls)
    assert len(outcomes) == 120
    assert all(o.ok for o in outcomes)
    assert outcomes[0].result == ["telephony"]
    assert isinstance(outcomes[1].result, str)
    assert portal.counters.by_method["batch"] == 3
    assert portal.counters.requests == 3
    assert portal.counters.batch_commands == 120
    assert client.requests_made == 3


async def test_errors_stay_with_their_call(client: Bitrix24Client) -> None:
    line = await client.sip_add(title="B", **GOOD)
    calls = [
        BatchCall("voximplant.sip.update", {"CONFIG_ID": line.config_id, "TITLE": "B2"}),
        BatchCall("voximplant.sip.update", {"CONFIG_ID": 9999, "TITLE": "x"}),
        BatchCall("voximplant.sip.get", {"FILTER": {"TITLE": "B2"}}),
        BatchCall("batch", {"cmd": {}}),
    ]
    ok, missing, listed, nested = await client.batch(calls)
    assert ok.ok
    assert ok.result in (1, True)
    assert isinstance(missing.error, PermanentError)
    assert missing.error.code == "ERROR_NOT_FOUND"
    assert listed.total == 1
    assert listed.result[0]["TITLE"] == "B2"
    assert nested.error is not None
    assert nested.error.code == "ERROR_BATCH_METHOD_NOT_ALLOWED"


async def test_halt_marks_the_rest_not_run(client: Bitrix24Client) -> None:
    calls = [
        BatchCall("scope"),
        BatchCall("voximplant.sip.delete", {"CONFIG_ID": 1}),
        BatchCall("scope"),
    ]
    first, failed, skipped = await client.batch(calls, halt=True)
    assert first.ok
    assert failed.error is not None
    assert failed.error.code == "ERROR_NOT_FOUND"
    assert isinstance(skipped.error, TransientError)
    assert skipped.error.code == "BATCH_NOT_RUN"


async def test_status_many(client: Bitrix24Client) -> None:
    lines = [await client.sip_add(title=f"S{n}", **GOOD) for n in range(3)]
    reg_ids = [line.reg_id for line in lines if line.reg_id is not None]
    statuses = await client.sip_status_many([*reg_ids, 42])
    assert list(statuses) == [*reg_ids, 42]
    assert all(isinstance(statuses[r], SipStatus) for r in reg_ids)
    missing = statuses[42]
    assert isinstance(missing, SiplineError)
    assert missing.code == "REG_ID_NOT_FOUND"


async def test_empty_batch_sends_nothing(client: Bitrix24Client, portal: SandboxPortal) -> None:
    assert await client.batch([]) == []
    assert portal.counters.requests == 0


def test_query_encoding_nests_like_php() -> None:
    query = encode_query({"FILTER": {"TYPE": "cloud"}, "IDS": [1, 2], "FLAG": True, "NONE": None})
    assert query == "FILTER%5BTYPE%5D=cloud&IDS%5B0%5D=1&IDS%5B1%5D=2&FLAG=1"


@pytest.mark.parametrize("size", [1, 7])
async def test_chunk_size_is_tunable(
    session: aiohttp.ClientSession, make_settings: SettingsFactory, portal: SandboxPortal, size: int
) -> None:
    client = client_for(session, make_settings(), batch_size=size)
    await client.batch([BatchCall("scope")] * 14)
    assert portal.counters.by_method["batch"] == -(-14 // size)
