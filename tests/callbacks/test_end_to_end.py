"""A registration fails in the sandbox → Voximplant's callback → line.reconcile →
``line.reconciled registration_failed``, with no command from outside; the secrets of the
callbacks never reach a log line, an event or an answer."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from io import StringIO
from pathlib import Path

import pytest

from tests.amqp_helpers import wait_for
from tests.callbacks.helpers import fail
from tests.callbacks.stack import SALT, Pushed, pushed_stack
from tests.e2e.conftest import PORTAL
from worker.adapters.store import SqlStore
from worker.callbacks.commands import SOURCE
from worker.http.callbacks import PATH


@pytest.fixture
async def pushed(tmp_path: Path, store: SqlStore, captured_logs: StringIO) -> AsyncIterator[Pushed]:
    async with pushed_stack(tmp_path, store) as stack:
        yield stack


def _value(pushed: Pushed, name: str, **labels: str) -> float:
    return pushed.metrics.registry.get_sample_value(name, labels) or 0.0


async def test_a_failure_in_the_sandbox_is_reconciled_within_5_s_without_a_command(
    pushed: Pushed, captured_logs: StringIO
) -> None:
    line = await pushed.line("pushed-one")
    config_id, reg_id = line["config_id"], line["reg_id"]
    sent = {e.get("causationid") for e in pushed.stack.broker.events.bodies()}
    assert sent == {line["command_id"]}  # the only command from outside: the create

    mark = len(pushed.stack.broker.events.messages)
    started = time.monotonic()
    await pushed.refuse(reg_id)
    failed = await pushed.wait_reconciled(config_id, "registration_failed", after=mark, limit=5)
    latency = time.monotonic() - started
    assert latency < 5.0
    assert failed["portal"] == PORTAL
    assert failed["data"]["bitrix24"]["status_result"] == "error"
    assert failed["data"]["voximplant"]["successful"] is False
    cause = failed["causationid"]
    assert cause != line["command_id"]
    received = "sipline_voximplant_callbacks_received_total"
    assert _value(pushed, received, type="sip_registration_fail") == 1
    outcome = "sipline_voximplant_callback_registrations_total"
    # counted once the callback is recorded, which may come after the event itself
    await wait_for(lambda: _value(pushed, outcome, outcome="reconcile") == 1, limit=5)

    mark = len(pushed.stack.broker.events.messages)
    await pushed.admit(reg_id)
    back = await pushed.wait_reconciled(config_id, "in_sync", after=mark, limit=5)
    assert back["causationid"] not in (cause, line["command_id"])
    assert _value(pushed, received, type="sip_registration_recovered") == 1
    await wait_for(lambda: _value(pushed, outcome, outcome="reconcile") == 2, limit=5)
    async with pushed.store.unit_of_work(readonly=True) as uow:
        assert PORTAL in await uow.callbacks.last_by_portal()

    logged = captured_logs.getvalue()
    assert "line.reconcile published for a voximplant callback" in logged
    assert SOURCE not in {e["source"] for e in pushed.stack.broker.events.bodies()}
    for secret in (SALT, pushed.api_key):
        assert secret not in logged
        for message in pushed.stack.broker.events.messages:
            assert secret.encode() not in message.body


async def test_refused_callbacks_leak_no_secret(pushed: Pushed, captured_logs: StringIO) -> None:
    url = pushed.stack.app.http_url
    assert url is not None
    forged = fail(1, 150000, signature="f" * 32, account_id=pushed.sandbox.account.account_id)
    bodies = [{"callbacks": [forged]}, {"callbacks": [{"callback_id": SALT}]}, {"x": 1}]
    for body in bodies:
        async with pushed.session.post(url + PATH, json=body) as response:
            text = await response.text()
            assert response.status in (400, 403)
            assert "Traceback" not in text
            for secret in (SALT, pushed.api_key):
                assert secret not in text
    async with pushed.session.get(url + "/metrics") as response:
        metrics = await response.text()
    assert 'sipline_voximplant_callbacks_refused_total{reason="forged"} 1.0' in metrics
    assert 'sipline_voximplant_callbacks_refused_total{reason="malformed"} 2.0' in metrics
    logged = captured_logs.getvalue()
    assert "voximplant callback refused: forged" in logged
    for secret in (SALT, pushed.api_key):
        assert secret not in logged
        assert secret not in metrics
