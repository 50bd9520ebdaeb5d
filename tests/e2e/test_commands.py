"""Each command end to end: RabbitMQ → worker → sandbox portal and account → events."""

from __future__ import annotations

from tests.e2e.conftest import PORTAL, Stack
from worker.sandbox.registrations import DEFAULT_SERVER


async def test_create_registers_and_reconciles_in_sync(stack: Stack) -> None:
    created = await stack.create("main")
    assert created["already_existed"] is False
    assert created["reg_id"] is not None
    reconciled = (await stack.outcome(created["command_id"], "line.reconciled"))[0]
    data = reconciled["data"]
    assert data["verdict"] == "in_sync", data
    assert data["attempts"] >= 2, "the line was still registering at the first check"
    assert data["settle_seconds"] is not None
    assert data["bitrix24"]["status_result"] == "success"
    assert data["voximplant"]["found"] is True
    assert reconciled["subject"] == f"lines/{created['config_id']}"
    assert reconciled["portal"] == PORTAL


async def test_wrong_password_is_registration_failed(stack: Stack) -> None:
    created = await stack.create("wrong", password="not-the-password")
    data = (await stack.outcome(created["command_id"], "line.reconciled"))[0]["data"]
    assert data["verdict"] == "registration_failed"
    assert data["bitrix24"]["status_code"] == 401
    assert data["voximplant"]["status_code"] == 401


async def test_a_redelivered_create_does_not_duplicate(stack: Stack) -> None:
    created = await stack.create("twice")
    again = await stack.send(
        "line.create",
        {"title": "twice", "server": DEFAULT_SERVER, "login": "user-twice", "password": "x"},
        id_=created["command_id"],
    )
    second = await stack.outcome(again, "line.created", count=2)
    assert [e["data"]["already_existed"] for e in second] == [False, True]
    assert len(stack.sandbox.portal().lines.lines) == 1


async def test_same_title_other_account_fails_with_title_exists(stack: Stack) -> None:
    await stack.create("taken")
    cid = await stack.send(
        "line.create",
        {"title": "taken", "server": "other.example", "login": "x", "password": "y"},
    )
    failed = (await stack.outcome(cid, "command.failed"))[0]["data"]
    assert failed["error_code"] == "TITLE_EXISTS"
    assert failed["retryable"] is False


async def test_update_reports_changed_fields_and_resettles(stack: Stack) -> None:
    created = await stack.create("upd")
    await stack.outcome(created["command_id"], "line.reconciled")
    cid = await stack.send(
        "line.update", {"config_id": created["config_id"], "password": "bad-now", "title": "upd2"}
    )
    updated = (await stack.outcome(cid, "line.updated"))[0]["data"]
    assert updated == {
        "config_id": created["config_id"],
        "changed_fields": ["title", "password"],
        "reregistration": True,
        "title": "upd2",  # the title after the update (contract 1.3.0)
    }
    verdict = (await stack.outcome(cid, "line.reconciled"))[0]["data"]["verdict"]
    assert verdict == "registration_failed"


async def test_delete_is_idempotent_and_confirms_the_registration_is_gone(stack: Stack) -> None:
    created = await stack.create("gone")
    first = await stack.send("line.delete", {"config_id": created["config_id"]})
    data = (await stack.outcome(first, "line.deleted"))[0]["data"]
    assert data == {
        "config_id": created["config_id"],
        "already_absent": False,
        "registration_removed": True,
    }
    second = await stack.send("line.delete", {"config_id": created["config_id"]})
    assert (await stack.outcome(second, "line.deleted"))[0]["data"]["already_absent"] is True


async def test_reconcile_of_an_unknown_line_fails(stack: Stack) -> None:
    cid = await stack.send("line.reconcile", {"config_id": 987654})
    failed = (await stack.outcome(cid, "command.failed"))[0]["data"]
    assert failed["error_code"] == "ERROR_NOT_FOUND"


async def test_unknown_portal_is_rejected(stack: Stack) -> None:
    cid = await stack.send("line.reconcile", {"config_id": 1}, portal="nowhere.example.com")
    rejected = (await stack.outcome(cid, "command.rejected"))[0]["data"]
    assert rejected["reason"] == "unknown_portal"


async def test_commands_for_one_line_apply_in_arrival_order(stack: Stack) -> None:
    created = await stack.create("order")
    await stack.outcome(created["command_id"], "line.reconciled")
    config_id = created["config_id"]
    ids = [
        await stack.send("line.update", {"config_id": config_id, "title": f"order-{n}"})
        for n in range(8)
    ]
    for cid in ids:
        await stack.outcome(cid, "line.updated")
    updated = [e for e in stack.broker.events.bodies() if e["type"] == "line.updated"]
    assert [e["causationid"] for e in updated] == ids
    line = stack.sandbox.portal().lines.lines[config_id]
    assert line.title == "order-7"


async def test_line_reconciled_has_the_same_id_on_a_first_pass_or_a_recheck(stack: Stack) -> None:
    """A redelivered create may settle on another pass than the first delivery did: its
    line.reconciled must keep one id either way, so consumers can drop the duplicate."""
    from worker.runtime.events import event_id

    slow = await stack.create("settles-later")
    stack.sandbox.store.wait_seconds = stack.sandbox.store.progress_seconds = 0.0
    fast = await stack.create("settles-at-once")
    for created, passes in ((slow, "later"), (fast, "first")):
        event = (await stack.outcome(created["command_id"], "line.reconciled"))[0]
        assert (event["data"]["attempts"] == 1) is (passes == "first")
        subject = f"lines/{created['config_id']}"
        assert event["id"] == event_id(created["command_id"], "line.reconciled", subject, 0)
