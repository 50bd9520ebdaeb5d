"""Every verdict of the contract, produced on purpose through the sandbox."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import Stack


async def _settled_line(stack: Stack, title: str) -> dict[str, Any]:
    created = await stack.create(title)
    reconciled = await stack.outcome(created["command_id"], "line.reconciled")
    assert reconciled[0]["data"]["verdict"] == "in_sync"
    return created


@pytest.mark.parametrize(
    ("divergence", "verdict"),
    [
        ({}, "in_sync"),
        ({"proxy": "drifted.example.net"}, "config_drift"),
        ({"sip_username": "someone-else"}, "config_drift"),
        ({"deactivated": True}, "deactivated"),
        ({"deleted": True}, "missing_registration"),
        ({"successful": False, "status_code": 503, "error_message": "down"}, "status_mismatch"),
    ],
    ids=["in_sync", "drift-proxy", "drift-username", "deactivated", "missing", "mismatch"],
)
async def test_verdict(stack: Stack, divergence: dict[str, Any], verdict: str) -> None:
    line = await _settled_line(stack, "v")
    if divergence:
        stack.sandbox.account.diverge(line["reg_id"], **divergence)
    cid = await stack.send("line.reconcile", {"config_id": line["config_id"]})
    data = (await stack.outcome(cid, "line.reconciled"))[0]["data"]
    assert data["verdict"] == verdict, data
    assert data["attempts"] == 1
    if verdict != "in_sync":
        assert data["findings"]


async def test_registration_failed(stack: Stack) -> None:
    created = await stack.create("bad", password="wrong-one")
    data = (await stack.outcome(created["command_id"], "line.reconciled"))[0]["data"]
    assert data["verdict"] == "registration_failed"


async def test_pending_timeout(stack: Stack) -> None:
    stack.sandbox.store.wait_seconds = 3600.0  # the registrar never answers
    created = await stack.create("slow")
    data = (await stack.outcome(created["command_id"], "line.reconciled", limit=30))[0]["data"]
    assert data["verdict"] == "pending_timeout"
    assert data["attempts"] > 2
    assert data["settle_seconds"] is None
    assert data["bitrix24"]["status_result"] == "wait"


async def test_office_line_has_nothing_to_cross_check(stack: Stack) -> None:
    created = await stack.create("pbx", line_type="office")
    assert created["reg_id"] is None
    data = (await stack.outcome(created["command_id"], "line.reconciled"))[0]["data"]
    assert data["verdict"] == "in_sync"
    assert data["voximplant"]["found"] is False
