"""export / import / purge against the real broker."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.ops.dlq.conftest import CANARY, DlqEnv
from worker.ops.dlq import operations
from worker.ops.dlq.errors import DlqError
from worker.ops.dlq.filters import Filter
from worker.ops.dlq.store import Held

NOT_UTF8 = b'\xff\xfe{"id": "broken", "password": "' + CANARY.encode() + b'"'


def yes(held: list[Held]) -> bool:
    return True


def no(held: list[Held]) -> bool:
    return False


def canonical(value: object) -> object:
    """Header tables compare by content: the broker stores their keys sorted."""
    if isinstance(value, dict):
        return sorted((k, canonical(v)) for k, v in value.items())
    if isinstance(value, list):
        return [canonical(v) for v in value]
    return value


def snapshot(messages: list) -> list:  # type: ignore[type-arg]
    out = []
    for m in messages:
        headers = {k: v for k, v in m.headers.items() if k != "x-delivery-count"}
        out.append(
            (
                m.body,
                m.routing_key,
                m.message_id,
                m.correlation_id,
                m.type,
                m.content_type,
                m.timestamp,
                m.delivery_mode,
                repr(canonical(headers)),
            )
        )
    return sorted(out)


async def test_export_purge_import_round_trip_is_byte_identical(
    env: DlqEnv, tmp_path: Path
) -> None:
    await env.dead_letter()
    await env.transient_dead_letter(type_="line.delete")
    await env.dead_letter(body=NOT_UTF8, message_id="broken-1", reason="not_json")
    await env.dead_letter(extra_headers={"x-producer-bytes": bytearray(b"\xff\x00")})
    await env.poison()
    before = snapshot(await env.peek_all(env.names.dead_letter_queue))
    path = tmp_path / "dead.jsonl"
    async with env.open() as broker:
        assert await operations.export(broker, Filter(), path) == 5
        await env.wait_depth(env.names.dead_letter_queue, 5)  # export alone keeps them
        assert await operations.purge(broker, Filter(), confirm=yes) == 5
        await env.wait_depth(env.names.dead_letter_queue, 0)
        report = await operations.import_file(broker, path)
    await env.wait_depth(env.names.dead_letter_queue, 5)
    assert report.error is None
    assert report.imported == report.total == 5
    assert snapshot(await env.peek_all(env.names.dead_letter_queue)) == before
    assert CANARY in path.read_text()  # a plain export is for moving messages: it is real


async def test_masked_export_holds_no_password_and_cannot_be_imported(
    env: DlqEnv, tmp_path: Path
) -> None:
    await env.dead_letter()
    await env.dead_letter(body=NOT_UTF8, message_id="broken-2", reason="not_json")
    path = tmp_path / "shared.jsonl"
    async with env.open() as broker:
        assert await operations.export(broker, Filter(), path, mask=True) == 2
        with pytest.raises(DlqError, match="mask-secrets"):
            await operations.import_file(broker, path)
        with pytest.raises(DlqError, match="--remove"):
            await operations.export(broker, Filter(), tmp_path / "x.jsonl", mask=True, remove=True)
    assert CANARY.encode() not in path.read_bytes()
    await env.wait_depth(env.names.dead_letter_queue, 2)


async def test_export_remove_moves_only_the_selection_and_never_overwrites(
    env: DlqEnv, tmp_path: Path
) -> None:
    moved = await env.dead_letter(type_="line.update")
    kept = await env.dead_letter()
    path = tmp_path / "moved.jsonl"
    async with env.open() as broker:
        flt = Filter(types=frozenset({"line.update"}))
        assert await operations.export(broker, flt, path, remove=True) == 1
        with pytest.raises(DlqError, match="exists"):
            await operations.export(broker, Filter(), path, remove=True)
    await env.wait_depth(env.names.dead_letter_queue, 1)
    assert moved in path.read_text()
    remaining = [str(m.message_id) for m in await env.peek_all(env.names.dead_letter_queue)]
    assert remaining == [kept]


async def test_a_bad_file_imports_nothing(env: DlqEnv, tmp_path: Path) -> None:
    await env.dead_letter()
    good = tmp_path / "good.jsonl"
    async with env.open() as broker:
        await operations.export(broker, Filter(), good)
    bad = tmp_path / "bad.jsonl"
    bad.write_text(good.read_text() + '{"format": "sipline.dlq/1", "body": 3}\n')
    async with env.open() as broker:
        with pytest.raises(DlqError, match=r"bad\.jsonl:2"):
            await operations.import_file(broker, bad)
    await env.wait_depth(env.names.dead_letter_queue, 1)


async def test_purge_takes_filters_and_a_refusal_removes_nothing(env: DlqEnv) -> None:
    await env.dead_letter()
    exhausted = await env.transient_dead_letter()
    async with env.open() as broker:
        assert await operations.purge(broker, Filter(), confirm=no) is None
        await env.wait_depth(env.names.dead_letter_queue, 2)
        flt = Filter(reasons=frozenset({"schema_violation"}))
        assert await operations.purge(broker, flt, confirm=yes) == 1
        assert await operations.purge(broker, flt, confirm=yes) == 0
    await env.wait_depth(env.names.dead_letter_queue, 1)
    remaining = [str(m.message_id) for m in await env.peek_all(env.names.dead_letter_queue)]
    assert remaining == [exhausted]


def _edit(record: dict[str, Any], change: str) -> dict[str, Any]:
    """One way to make a record unpublishable although it reads fine."""
    out = json.loads(json.dumps(record))
    nested: dict[str, Any] = {}
    inner = nested
    for _ in range(40):
        inner["a"] = {}
        inner = inner["a"]
    edits: dict[str, Callable[[], None]] = {
        "huge integer": lambda: out["headers"].update({"x-n": 2**63}),
        "negative huge integer": lambda: out["headers"].update({"x-n": -(2**63) - 1}),
        "priority 1000": lambda: out["properties"].update({"priority": 1000}),
        "300-byte routing key": lambda: out.update({"routing_key": "k" * 300}),
        "deep header": lambda: out["headers"].update({"x-deep": nested}),
        "long message id": lambda: out["properties"].update({"message_id": "m" * 300}),
        "timestamp before 1970": lambda: out["properties"].update(
            {"timestamp": "1900-01-01T00:00:00+00:00"}
        ),
        "long header name": lambda: out["headers"].update({"x" * 200: 1}),
        "decimal NaN": lambda: out["headers"].update({"x-d": {"$decimal": "NaN"}}),
        "bad decimal": lambda: out["headers"].update({"x-d": {"$decimal": "one"}}),
        "huge headers": lambda: out["headers"].update({"x-big": "b" * 200_000}),
    }
    edits[change]()
    return out


UNPUBLISHABLE = [
    "huge integer",
    "negative huge integer",
    "priority 1000",
    "300-byte routing key",
    "deep header",
    "long message id",
    "timestamp before 1970",
    "long header name",
    "decimal NaN",
    "bad decimal",
    "huge headers",
]


async def test_a_record_that_cannot_be_encoded_imports_nothing(env: DlqEnv, tmp_path: Path) -> None:
    """Every line is checked for what the encoder and the broker would refuse, first."""
    await env.dead_letter()
    good = tmp_path / "good.jsonl"
    async with env.open() as broker:
        await operations.export(broker, Filter(), good)
    line = good.read_text().splitlines()[0]
    record = json.loads(line)
    files = {change: [line, json.dumps(_edit(record, change))] for change in UNPUBLISHABLE}
    files["NaN header"] = [line, line.replace('"headers": {', '"headers": {"x-f": NaN, ', 1)]
    files["Infinity header"] = [
        line,
        line.replace('"headers": {', '"headers": {"x-f": -Infinity, ', 1),
    ]
    async with env.open() as broker:
        for change, lines in files.items():
            path = tmp_path / f"{change}.jsonl"
            path.write_text("\n".join([*lines, line]) + "\n")
            with pytest.raises(DlqError, match=rf"{change}\.jsonl:2: ") as caught:
                await operations.import_file(broker, path)
            assert "Traceback" not in str(caught.value)
    await env.wait_depth(env.names.dead_letter_queue, 1)
    assert await env.depth(env.names.dead_letter_queue) == 1
