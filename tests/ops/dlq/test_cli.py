"""``sipline dlq`` as an operator runs it: a real process, the real broker, no terminal."""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.ops.dlq.conftest import CANARY, DlqEnv, cli_env
from tests.ops.dlq.test_masking import CORPUS


@dataclass
class Result:
    code: int
    out: str
    err: str


async def sipline(*args: str, columns: int = 200) -> Result:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "worker.cli.main",
        *args,
        env={**cli_env(), "COLUMNS": str(columns)},
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 45)
    assert process.returncode is not None
    return Result(process.returncode, out.decode(), err.decode())


async def test_list_summary_and_show(env: DlqEnv) -> None:
    first = await env.dead_letter()
    await env.transient_dead_letter(type_="line.delete")
    prefix = ("--prefix", env.names.prefix)

    listed = await sipline("dlq", "list", *prefix, "--json")
    assert listed.code == 0, listed.err
    rows = json.loads(listed.out)
    assert {r["reason"] for r in rows} == {"schema_violation", "retries_exhausted"}
    table = await sipline("dlq", "list", *prefix, "--type", "line.create")
    assert first in table.out
    assert "1 dead letter(s)" in table.out
    summary = await sipline("dlq", "list", *prefix, "--summary", "--json")
    assert {(g["reason"], g["count"]) for g in json.loads(summary.out)} == {
        ("schema_violation", 1),
        ("retries_exhausted", 1),
    }
    shown = await sipline("dlq", "show", *prefix, first)
    assert shown.code == 0, shown.err
    assert "Failure history" in shown.out
    detail = await sipline("dlq", "show", *prefix, first, "--json")
    assert json.loads(detail.out)["id"] == first
    missing = await sipline("dlq", "show", *prefix, "nope")
    assert missing.code == 1
    for result in (listed, table, summary, shown, detail):
        assert CANARY not in result.out + result.err


async def test_purge_refuses_without_yes_and_a_terminal(env: DlqEnv) -> None:
    await env.dead_letter()
    keep = await env.transient_dead_letter()
    prefix = ("--prefix", env.names.prefix)
    refused = await sipline("dlq", "purge", *prefix)
    assert refused.code == 2
    assert "--yes" in refused.err
    await env.wait_depth(env.names.dead_letter_queue, 2)
    purged = await sipline("dlq", "purge", *prefix, "--reason", "schema_violation", "--yes")
    assert purged.code == 0, purged.err
    assert "purged 1" in purged.out
    await env.wait_depth(env.names.dead_letter_queue, 1)
    assert [str(m.message_id) for m in await env.peek_all(env.names.dead_letter_queue)] == [keep]


async def test_replay_export_and_import(env: DlqEnv, tmp_path: Path) -> None:
    one = await env.dead_letter()
    prefix = ("--prefix", env.names.prefix)
    dry = await sipline("dlq", "replay", *prefix, "--dry-run")
    assert dry.code == 0, dry.err
    assert "would replay: 1" in dry.out
    masked = tmp_path / "masked.jsonl"
    exported = await sipline("dlq", "export", *prefix, str(masked), "--mask-secrets")
    assert exported.code == 0, exported.err
    assert CANARY not in masked.read_text()
    refused = await sipline("dlq", "import", *prefix, str(masked))
    assert refused.code == 2
    assert "mask-secrets" in refused.err
    assert "Traceback" not in refused.err
    moved = tmp_path / "moved.jsonl"
    assert (await sipline("dlq", "export", *prefix, str(moved), "--remove")).code == 0
    await env.wait_depth(env.names.dead_letter_queue, 0)
    assert (await sipline("dlq", "import", *prefix, str(moved))).code == 0
    await env.wait_depth(env.names.dead_letter_queue, 1)
    replayed = await sipline("dlq", "replay", *prefix, "--rate", "50")
    assert replayed.code == 0, replayed.err
    assert "replayed: 1" in replayed.out
    await env.wait_depth(env.names.commands_queue, 1)
    assert [str(m.message_id) for m in await env.peek_all(env.names.commands_queue)] == [one]


async def test_operator_mistakes_get_clear_errors(env: DlqEnv) -> None:
    unknown = await sipline("dlq", "list", "--prefix", "no-such-topology-here")
    assert unknown.code == 1
    assert "not declared" in unknown.err
    bad_age = await sipline("dlq", "list", "--prefix", env.names.prefix, "--older-than", "soon")
    assert bad_age.code == 2
    assert "not a duration" in bad_age.err


async def test_every_shape_is_masked_by_show_list_text_and_export(
    env: DlqEnv, tmp_path: Path
) -> None:
    shapes = ["double encoded", "encoded 5 times", "python repr", "escaped key, invalid json"]
    shapes += ["escaped key, double encoded", "webhook url", "deep json", "yaml"]
    ids = {
        shape: await env.dead_letter(body=CORPUS[shape].encode(), message_id=f"shape-{n}")
        for n, shape in enumerate(shapes)
    }
    prefix = ("--prefix", env.names.prefix)
    results = [await sipline("dlq", "show", *prefix, ids["escaped key, double encoded"])]
    results.append(await sipline("dlq", "show", *prefix, ids["deep json"], "--json"))
    searched = await sipline("dlq", "list", *prefix, "--text", CANARY)
    assert "0 dead letter(s)" in searched.out, searched.out + searched.err
    results += [searched, await sipline("dlq", "list", *prefix, "--json")]
    exported = tmp_path / "masked.jsonl"
    results.append(await sipline("dlq", "export", *prefix, str(exported), "--mask-secrets"))
    for result in results:
        assert result.code == 0, result.err
        assert CANARY not in result.out + result.err
    assert len(exported.read_text().splitlines()) == len(shapes)
    assert CANARY not in exported.read_text()


async def test_a_piped_listing_is_readable_at_80_columns(env: DlqEnv) -> None:
    first = await env.dead_letter(portal="a-rather-long-portal-name.bitrix24.ru")
    await env.transient_dead_letter(type_="line.delete")
    prefix = ("--prefix", env.names.prefix)
    piped = await sipline("dlq", "list", *prefix, columns=80)
    assert piped.code == 0, piped.err
    text = piped.out
    blocks = [b for b in text.strip().split("\n\n") if b.startswith("id")]
    assert len(blocks) == 2
    block = next(b for b in blocks if first in b)
    fields = dict(line.split(":", 1) for line in block.splitlines())
    assert fields["portal"].strip() == "a-rather-long-portal-name.bitrix24.ru"
    assert fields["reason"].strip() == "schema_violation"
    assert fields["type"].strip() == "line.create"
    assert all(len(line) <= 80 for line in text.splitlines())
    assert "2 dead letter(s)" in text
    tsv = await sipline("dlq", "list", *prefix, "--format", "tsv")
    header, *rows = tsv.out.splitlines()
    assert header.split("\t")[:4] == ["id", "type", "portal", "reason"]
    assert len(rows) == 2
    assert all(len(row.split("\t")) == len(header.split("\t")) for row in rows)
