"""list / show against the real broker: filters, summary, masking, nothing moved."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from rich.console import Console

from tests.ops.dlq.conftest import CANARY, DlqEnv
from worker.ops.dlq import operations, render, views
from worker.ops.dlq.filters import Filter
from worker.ops.dlq.summary import summarize


def printed(renderable: object) -> str:
    console = Console(record=True, width=200, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(renderable)
    text = console.export_text()
    console.file.close()
    return text


async def seed(env: DlqEnv) -> dict[str, str]:
    now = datetime.now(UTC)
    return {
        "old": await env.dead_letter(now=now - timedelta(days=3)),
        "fresh": await env.dead_letter(type_="line.update", portal="other.bitrix24.de"),
        "exhausted": await env.transient_dead_letter(type_="line.delete"),
        "poison": await env.poison("line.delete"),
    }


async def test_list_filters_and_summary(env: DlqEnv) -> None:
    ids = await seed(env)
    async with env.open() as broker:
        everything = await operations.read(broker, Filter())
        assert {letter.id for letter in everything} == set(ids.values())
        by_type = await operations.read(broker, Filter(types=frozenset({"line.delete"})))
        assert {letter.id for letter in by_type} == {ids["exhausted"], ids["poison"]}
        by_reason = await operations.read(broker, Filter(reasons=frozenset({"delivery_limit"})))
        assert [letter.id for letter in by_reason] == [ids["poison"]]
        by_portal = await operations.read(broker, Filter(portals=frozenset({"*.de"})))
        assert [letter.id for letter in by_portal] == [ids["fresh"]]
        old = await operations.read(broker, Filter(older_than=timedelta(days=1)))
        assert [letter.id for letter in old] == [ids["old"]]
        new = await operations.read(broker, Filter(newer_than=timedelta(hours=1)))
        assert ids["old"] not in {letter.id for letter in new}
        assert len(new) == 3
        by_text = await operations.read(broker, Filter(text="answered 503"))
        assert [letter.id for letter in by_text] == [ids["exhausted"]]
        assert await operations.read(broker, Filter(text=CANARY)) == []
        limited = await operations.read(broker, Filter(), limit=2)
        assert len(limited) == 2

    poison = next(letter for letter in everything if letter.id == ids["poison"])
    assert poison.broker_made
    assert poison.first_failure is not None
    groups = {(g.reason, g.type): g.count for g in summarize(everything)}
    assert groups == {
        ("schema_violation", "line.create"): 1,
        ("schema_violation", "line.update"): 1,
        ("retries_exhausted", "line.delete"): 1,
        ("delivery_limit", "line.delete"): 1,
    }
    now = datetime.now(UTC)
    table = printed(render.letters_table(everything, now))
    assert ids["old"] in table
    assert "3d" in table
    assert CANARY not in table
    assert CANARY not in json.dumps([views.row(letter, now) for letter in everything])
    assert "delivery_limit" in printed(render.summary_table(summarize(everything)))
    # Reading moved nothing.
    await env.wait_depth(env.names.dead_letter_queue, 4)
    assert await env.depth(env.names.commands_queue) == 0


async def test_listing_leaves_the_dead_letters_byte_for_byte(env: DlqEnv) -> None:
    await seed(env)
    before = await env.peek_all(env.names.dead_letter_queue)
    async with env.open() as broker:
        await operations.read(broker, Filter(types=frozenset({"line.update"})))
        await operations.read(broker, Filter())
    await env.wait_depth(env.names.dead_letter_queue, len(before))
    after = await env.peek_all(env.names.dead_letter_queue)

    def essence(messages: list) -> list:  # type: ignore[type-arg]
        return sorted(
            (
                m.body,
                m.message_id,
                m.routing_key,
                json.dumps({k: str(v) for k, v in m.headers.items() if k != "x-delivery-count"}),
            )
            for m in messages
        )

    assert essence(after) == essence(before)


async def test_show_gives_everything_but_the_password(env: DlqEnv) -> None:
    earlier = datetime.now(UTC) - timedelta(hours=2)
    first = await env.dead_letter(reason="retries_exhausted", now=earlier)
    async with env.open() as broker:
        letter = await operations.find(broker, first)
        missing = await operations.find(broker, "no-such-id")
    assert missing is None
    assert letter is not None
    now = datetime.now(UTC)
    detail = views.detail(letter, now)
    assert detail["reason"] == "retries_exhausted"
    assert detail["field_errors"] == [{"field": "data.password", "problem": "short"}]
    assert len(detail["history"]) == 1
    assert detail["headers"]["x-sipline-reason"] == "retries_exhausted"
    assert '"**********"' in detail["body"]
    assert CANARY not in json.dumps(detail)
    text = printed(render.detail(letter, now))
    assert CANARY not in text
    assert first in text
    assert "Failure history" in text
    assert "sip.example.com" in text


async def test_bodies_and_errors_are_shown_as_data_not_markup(env: DlqEnv) -> None:
    from worker.errors import SiplineError

    odd = await env.dead_letter(
        body=b'{"note": "[/red] [bold]not markup"}',
        message_id="odd-[/]",
        error=SiplineError("[/] closing tag first", code="ODD"),
    )
    async with env.open() as broker:
        letter = await operations.find(broker, odd)
    assert letter is not None
    now = datetime.now(UTC)
    text = printed(render.detail(letter, now))
    assert "[/red] [bold]not markup" in text
    assert "[/] closing tag first" in text
    assert "odd-[/]" in printed(render.letters_table([letter], now))
