"""One repository contract, run against SQLite and the real PostgreSQL alike."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr

from worker.adapters.store import SqlStore
from worker.store import LineChange, PortalExists, PortalNotFound, PortalRecord

T0 = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)


def webhook(domain: str = "one.bitrix24.test", **fields: object) -> PortalRecord:
    return PortalRecord(
        domain=domain,
        auth="webhook",
        webhook_url=SecretStr(f"https://{domain.lower()}/rest/1/hookcode/"),
        **fields,  # type: ignore[arg-type]
    )


def oauth(domain: str = "two.bitrix24.test") -> PortalRecord:
    return PortalRecord(
        domain=domain,
        auth="oauth",
        client_id="local.app",
        client_secret=SecretStr("client-secret"),
        rest_url=f"https://{domain}/rest/",
        member_id="m-" + domain,
        application_token=SecretStr("app-token"),
    )


async def test_portal_add_get_list_round_trip(store: SqlStore) -> None:
    async with store.unit_of_work() as uow:
        added = await uow.portals.add(webhook("One.Bitrix24.Test", plan="enterprise"))
        await uow.portals.add(oauth())
        await uow.commit()
    assert added.domain == "one.bitrix24.test"
    assert added.created_at is not None
    assert added.created_at.tzinfo is not None
    async with store.unit_of_work(readonly=True) as uow:
        one = await uow.portals.get("ONE.bitrix24.test")
        listed = await uow.portals.list()
        by_member = await uow.portals.by_member_id("m-two.bitrix24.test")
    assert one is not None
    assert one.webhook_url is not None
    assert one.webhook_url.get_secret_value() == "https://one.bitrix24.test/rest/1/hookcode/"
    assert one.plan == "enterprise"
    assert one.bucket() == (250, 5.0)
    assert [p.domain for p in listed] == ["one.bitrix24.test", "two.bitrix24.test"]
    assert by_member is not None
    assert by_member.client_secret is not None
    assert by_member.client_secret.get_secret_value() == "client-secret"
    assert by_member.application_token is not None


async def test_portal_add_twice_is_refused(store: SqlStore) -> None:
    async with store.unit_of_work() as uow:
        await uow.portals.add(webhook())
        await uow.commit()
    async with store.unit_of_work() as uow:
        with pytest.raises(PortalExists):
            await uow.portals.add(webhook())


async def test_update_remove_and_the_revision_counter(store: SqlStore) -> None:
    async with store.unit_of_work() as uow:
        start = await uow.portals.revision()
        first = await uow.portals.add(webhook())
        await uow.commit()
    async with store.unit_of_work() as uow:
        changed = await uow.portals.update(
            replace(first, enabled=False, repair_policy="repair", repair_budget=5)
        )
        await uow.commit()
    assert changed.version > first.version
    assert changed.created_at == first.created_at
    assert (changed.enabled, changed.repair_policy, changed.repair_budget) == (False, "repair", 5)
    async with store.unit_of_work() as uow:
        assert await uow.portals.list(enabled=True) == []
        assert len(await uow.portals.list(enabled=False)) == 1
        assert await uow.portals.remove(first.domain) is True
        assert await uow.portals.remove(first.domain) is False
        with pytest.raises(PortalNotFound):
            await uow.portals.update(first)
        await uow.commit()
    async with store.unit_of_work(readonly=True) as uow:
        assert await uow.portals.revision() == start + 3
        assert await uow.portals.get(first.domain) is None


async def test_leaving_without_commit_or_with_an_error_keeps_nothing(store: SqlStore) -> None:
    async with store.unit_of_work() as uow:
        await uow.portals.add(webhook("a.test"))

    async def fail_midway() -> None:
        async with store.unit_of_work() as uow:
            await uow.portals.add(webhook("b.test"))
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await fail_midway()
    async with store.unit_of_work() as uow:
        await uow.portals.add(webhook("c.test"))
        await uow.rollback()
    async with store.unit_of_work(readonly=True) as uow:
        assert await uow.portals.list() == []
        assert await uow.portals.revision() == 0


async def test_tokens_generation_and_removal_with_the_portal(store: SqlStore) -> None:
    async with store.unit_of_work() as uow:
        await uow.portals.add(oauth())
        first = await uow.tokens.put(
            "two.bitrix24.test",
            access_token=SecretStr("a1"),
            refresh_token=SecretStr("r1"),
            expires_at=T0,
        )
        second = await uow.tokens.put(
            "two.bitrix24.test",
            access_token=SecretStr("a2"),
            refresh_token=SecretStr("r2"),
            expires_at=T0 + timedelta(hours=1),
        )
        await uow.commit()
    assert (first.generation, second.generation) == (1, 2)
    async with store.unit_of_work() as uow:
        got = await uow.tokens.lock("two.bitrix24.test")
        assert got is not None
        assert got.access_token.get_secret_value() == "a2"
        assert got.refresh_token.get_secret_value() == "r2"
        assert got.expires_at == T0 + timedelta(hours=1)
        assert got.generation == 2
        await uow.portals.remove("two.bitrix24.test")
        await uow.commit()
    async with store.unit_of_work(readonly=True) as uow:
        assert await uow.tokens.get("two.bitrix24.test") is None


def change(event_id: str, kind: str, at: datetime, **fields: object) -> LineChange:
    return LineChange(
        event_id=event_id,
        occurred_at=at,
        portal="one.bitrix24.test",
        config_id=7,
        kind=kind,  # type: ignore[arg-type]
        **fields,  # type: ignore[arg-type]
    )


async def test_line_projection_is_idempotent_and_tracks_verdict_since(store: SqlStore) -> None:
    events = [
        change("e1", "created", T0, command_id="c1", title="Main", line_type="cloud", reg_id=42),
        change("e2", "reconciled", T0 + timedelta(seconds=5), verdict="in_sync"),
        change("e3", "reconciled", T0 + timedelta(seconds=9), verdict="in_sync"),
        change(
            "e4",
            "reconciled",
            T0 + timedelta(seconds=20),
            verdict="config_drift",
            findings=["server differs"],
        ),
    ]
    async with store.unit_of_work() as uow:
        assert [await uow.lines.apply(e) for e in events] == [True] * 4
        await uow.commit()
    async with store.unit_of_work() as uow:
        before = await uow.lines.get("one.bitrix24.test", 7)
        assert [await uow.lines.apply(e) for e in events] == [False] * 4  # redelivered
        stale = change("e0", "deleted", T0 - timedelta(seconds=1))
        assert await uow.lines.apply(stale) is False  # older than the row
        await uow.commit()
    async with store.unit_of_work(readonly=True) as uow:
        line = await uow.lines.get("one.bitrix24.test", 7)
    assert line == before
    assert line is not None
    assert (line.title, line.line_type, line.reg_id) == ("Main", "cloud", 42)
    assert line.verdict == "config_drift"
    assert line.verdict_since == T0 + timedelta(seconds=20)
    assert line.last_checked == T0 + timedelta(seconds=20)
    assert line.findings == ["server differs"]
    assert (line.last_command_id, line.last_event_id, line.deleted) == ("c1", "e4", False)


async def test_same_verdict_keeps_its_since(store: SqlStore) -> None:
    async with store.unit_of_work() as uow:
        await uow.lines.apply(change("e1", "reconciled", T0, verdict="in_sync"))
        await uow.lines.apply(
            change("e2", "reconciled", T0 + timedelta(minutes=1), verdict="in_sync")
        )
        line = await uow.lines.get("one.bitrix24.test", 7)
    assert line is not None
    assert line.verdict_since == T0
    assert line.last_checked == T0 + timedelta(minutes=1)


async def test_deleted_lines_are_marked_listed_only_on_request_and_counted(
    store: SqlStore,
) -> None:
    async with store.unit_of_work() as uow:
        for config_id, verdict in ((1, "in_sync"), (2, "config_drift"), (3, "config_drift")):
            await uow.lines.apply(
                LineChange(
                    event_id=f"r{config_id}",
                    occurred_at=T0,
                    portal="p.test",
                    config_id=config_id,
                    kind="reconciled",
                    verdict=verdict,
                )
            )
        await uow.lines.apply(
            LineChange(
                event_id="d3",
                occurred_at=T0 + timedelta(seconds=1),
                portal="p.test",
                config_id=3,
                kind="deleted",
                command_id="cmd-del",
            )
        )
        await uow.commit()
    async with store.unit_of_work(readonly=True) as uow:
        live = await uow.lines.list(portal="p.test")
        drift = await uow.lines.list(verdicts=["config_drift"])
        everything = await uow.lines.list(include_deleted=True)
        counts = await uow.lines.counts()
    assert [line.config_id for line in live] == [1, 2]
    assert [line.config_id for line in drift] == [2]
    assert [(line.config_id, line.deleted) for line in everything] == [
        (1, False),
        (2, False),
        (3, True),
    ]
    assert counts == {("p.test", "in_sync"): 1, ("p.test", "config_drift"): 1}
    async with store.unit_of_work() as uow:
        await uow.lines.clear()
        await uow.commit()
    async with store.unit_of_work() as uow:
        assert await uow.lines.list(include_deleted=True) == []
        assert await uow.lines.apply(change("e1", "created", T0)) is True  # ids forgotten too


async def test_create_commands_and_callbacks_are_recorded_once(store: SqlStore) -> None:
    async with store.unit_of_work() as uow:
        assert await uow.creates.record("cmd-1", portal="P.test", config_id=11) is True
        assert await uow.creates.record("cmd-1", portal="p.test", config_id=99) is False
        assert await uow.callbacks.remember(1001, "cb-1") is True
        assert await uow.callbacks.remember(1001, "cb-1") is False
        assert await uow.callbacks.remember(1002, "cb-1") is True
        await uow.commit()
    async with store.unit_of_work(readonly=True) as uow:
        assert await uow.creates.find("cmd-1") == ("p.test", 11)
        assert await uow.creates.find("cmd-2") is None


async def test_prune_forgets_old_keys_and_a_redelivery_still_changes_nothing(
    store: SqlStore,
) -> None:
    async with store.unit_of_work() as uow:
        await uow.lines.apply(change("e1", "created", T0, title="Main"))
        await uow.lines.apply(
            change("e2", "reconciled", T0 + timedelta(seconds=1), verdict="in_sync")
        )
        await uow.callbacks.remember(1, "cb")
        await uow.commit()
    async with store.unit_of_work(readonly=True) as uow:
        before = await uow.lines.get("one.bitrix24.test", 7)
    future = datetime.now(UTC) + timedelta(days=1)
    assert await store.prune(before=future) == {"events": 2, "callbacks": 1}
    async with store.unit_of_work() as uow:
        assert await uow.lines.apply(change("e1", "created", T0, title="Main")) is False
        await uow.lines.apply(
            change("e2", "reconciled", T0 + timedelta(seconds=1), verdict="in_sync")
        )
        await uow.commit()
    async with store.unit_of_work(readonly=True) as uow:
        after = await uow.lines.get("one.bitrix24.test", 7)
    assert after == before


async def test_seed_stores_a_pair_only_once(store: SqlStore) -> None:
    async with store.unit_of_work() as uow:
        first = await uow.tokens.seed(
            "P.test", access_token=SecretStr("a"), refresh_token=SecretStr("r"), expires_at=None
        )
        again = await uow.tokens.seed(
            "p.test", access_token=SecretStr("x"), refresh_token=SecretStr("y"), expires_at=T0
        )
        await uow.commit()
    assert first == again
    assert (first.access_token.get_secret_value(), first.generation) == ("a", 1)


async def test_a_readonly_unit_of_work_reads_one_snapshot(store: SqlStore) -> None:
    """What commits while a read-only unit of work reads is not seen by its later
    statements (``sipline status`` reads its lines in two); the connection it used writes
    as before afterwards."""
    async with store.unit_of_work() as uow:
        await uow.lines.apply(change("s1", "created", T0))
        await uow.commit()
    async with store.unit_of_work(readonly=True) as reading:
        before = await reading.lines.list()
        async with store.unit_of_work() as uow:
            await uow.lines.apply(
                LineChange(
                    event_id="s2",
                    occurred_at=T0,
                    portal="p.test",
                    config_id=2,
                    kind="created",
                    title="second",
                )
            )
            await uow.commit()
        assert await reading.lines.list() == before
    for n in range(3):  # every pooled connection writes after a read-only one
        async with store.unit_of_work() as uow:
            await uow.portals.add(webhook(f"w{n}.bitrix24.test"))
            await uow.commit()
    async with store.unit_of_work(readonly=True) as reading:
        assert len(await reading.lines.list()) == 2
