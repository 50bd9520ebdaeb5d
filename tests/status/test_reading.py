"""``open_reader``: an SQLite store ready as it stands is read synchronously, with the
same queries and the same answers; anything else goes through ``open_store``."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import insert

from tests.status.fixtures import fill
from tests.store.cli_helpers import SIPLINE, store_env
from tests.store.conftest import Backend
from worker.adapters.store import SqlStore, generate_key, open_reader, open_store
from worker.adapters.store.migrate import downgrade
from worker.adapters.store.reading import ReadingStore
from worker.adapters.store.tables import lines
from worker.status.query import ORDER, Selection, StatusQuery
from worker.status.views import OUT_OF_SYNC
from worker.store import StoreKeyError, StoreSchemaError
from worker.store.records import LineRecord


@pytest.fixture
def sqlite(tmp_path: Path) -> Backend:
    return Backend("sqlite", f"sqlite:///{tmp_path / 'store.db'}", None, generate_key())


@pytest.fixture
async def filled(sqlite: Backend) -> Backend:
    async with open_store(sqlite.settings()) as store:
        await fill(store)
    return sqlite


async def _listing(store: object) -> tuple[list[LineRecord], dict[str, dict[str, int]], object]:
    query = StatusQuery(store=store)  # type: ignore[arg-type]
    async with query.listing(Selection(verdicts=frozenset({"config_drift", "in_sync"}))) as seen:
        views = [view async for view in seen.portals()]
        lines = [line for view in views for line in view.lines]
        return lines, {view.portal: view.counts for view in views}, seen.last_sweep


async def test_the_reading_store_answers_as_the_store_does(
    backend: Backend, store: SqlStore
) -> None:
    await fill(store)
    expected = await _listing(store)
    async with open_reader(backend.settings()) as reader:
        assert isinstance(reader, ReadingStore)
        assert await _listing(reader) == expected
        overview = await StatusQuery(store=reader).overview()
    assert overview == await StatusQuery(store=store).overview()
    assert [line.config_id for line in expected[0]] == [1, 3, 7]


async def test_it_reads_only(filled: Backend) -> None:
    async with open_reader(filled.settings()) as reader:
        with pytest.raises(ValueError, match="read-only"):
            async with reader.unit_of_work():
                pass


async def test_a_store_with_something_to_do_first_is_opened_by_open_store(
    sqlite: Backend,
) -> None:
    settings = sqlite.settings()
    # no file yet: open_store creates and migrates it
    async with open_reader(settings) as reader:
        assert isinstance(reader, SqlStore)
    # a schema behind the code: upgraded by open_store (automatic upgrades on) ...
    async with open_store(settings) as opened:
        await downgrade(opened.engine, opened.location, target="0001")
    async with open_reader(settings) as reader:
        assert isinstance(reader, SqlStore)
    async with open_reader(settings) as reader:
        assert isinstance(reader, ReadingStore)
    # ... or refused with its one line (automatic upgrades off)
    async with open_store(settings) as opened:
        await downgrade(opened.engine, opened.location, target="0001")
    with pytest.raises(StoreSchemaError, match="sipline store upgrade"):
        async with open_reader(sqlite.settings(store_auto_upgrade=False)):
            pass


async def test_a_schema_behind_the_code_is_upgraded_first_on_either_backend(
    backend: Backend, store: SqlStore
) -> None:
    await downgrade(store.engine, store.location, target="0001")
    async with open_reader(backend.settings()) as reader:
        assert isinstance(reader, SqlStore)  # upgraded by open_store
    async with open_reader(backend.settings()) as reader:
        assert isinstance(reader, ReadingStore)
        assert await StatusQuery(store=reader).counts() == {}


async def test_a_key_not_the_stores_fails_in_one_line(filled: Backend) -> None:
    other = filled.settings(store_key=SecretStr(generate_key()))
    with pytest.raises(StoreKeyError, match="does not open the store"):
        async with open_reader(other):
            pass


async def test_sipline_status_imports_no_asyncio_layer(backend: Backend, store: SqlStore) -> None:
    """What the reading store is for: no SQLAlchemy asyncio layer or ORM, no aiosqlite."""
    await fill(store)
    await asyncio.to_thread(_status_imports_nothing_heavy, backend)


def _status_imports_nothing_heavy(filled: Backend) -> None:
    probe = (
        "import sys\n"
        "from worker.cli.main import main\n"
        "try:\n"
        "    main(['status'])\n"
        "except SystemExit as exit:\n"
        "    assert not exit.code, exit.code\n"
        "heavy = [m for m in ('aiosqlite', 'sqlalchemy.ext.asyncio', 'sqlalchemy.orm',\n"
        "    'alembic', 'aio_pika', 'aiohttp') if m in sys.modules]\n"
        "print('imported:', heavy, file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        env=store_env(filled),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "imported: []" in done.stderr
    assert "office-main" in done.stdout


async def test_a_reader_that_stops_reading_ends_it_quietly(
    backend: Backend, store: SqlStore
) -> None:
    """``sipline status | head``: the rest is not printed, no error, exit 0 (before: "store
    unavailable (BrokenPipeError)", exit 1, and SQLAlchemy's log of a cursor closed late)."""
    rows = [
        {
            "portal": f"p{p:04d}.test",
            "config_id": n,
            "title": f"line {n} of portal {p}",
            "verdict": "in_sync",
            "findings": [],
            "deleted": False,
            "last_event_id": f"e-{p}-{n}",
            "last_event_at": datetime(2026, 11, 30, tzinfo=UTC),
        }
        for p in range(500)
        for n in range(1, 6)
    ]
    async with store.unit_of_work() as uow:
        await uow.connection.execute(insert(lines), rows)
        await uow.commit()
    for args in (["status"], ["status", "--json"]):
        code, stderr = await asyncio.to_thread(_read_the_start, args, store_env(backend))
        assert code == 0, stderr
        assert stderr == ""


def _read_the_start(args: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run ``sipline ARGS``, read 100 bytes of its output (more than a pipe holds is on its
    way), then stop reading; its exit code and stderr."""
    with subprocess.Popen(
        [SIPLINE, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        assert process.stdout is not None
        assert process.stderr is not None
        assert process.stdout.read(100)
        process.stdout.close()
        stderr = process.stderr.read()
        return process.wait(timeout=60), stderr


async def test_portals_with_out_of_sync_lines_come_first_in_two_reads_of_one_snapshot(
    backend: Backend, store: SqlStore
) -> None:
    """The listing reads the portals with an out-of-sync live line, then the others: each
    in portal order, each portal's lines worst first; a portal whose only bad line is
    deleted, or whose bad lines a verdict filter leaves out, keeps its place."""
    specs = {
        "a-fine.test": ["in_sync", None, "in_sync"],
        "b-bad.test": ["in_sync", "config_drift", None, "registration_failed", "in_sync"],
        "c-fine.test": ["in_sync"],
        "d-deleted-bad.test": ["in_sync", "config_drift"],  # its drifting line is deleted
        "e-bad.test": ["pending_timeout", "in_sync"],
        "f-unchecked.test": [None, None],
    }
    rows = [
        {
            "portal": portal,
            "config_id": n,
            "title": f"{portal} {n}",
            "verdict": verdict,
            "findings": [],
            "deleted": portal == "d-deleted-bad.test" and verdict == "config_drift",
            "last_event_id": f"e-{portal}-{n}",
            "last_event_at": datetime(2026, 11, 30, tzinfo=UTC),
        }
        for portal, verdicts in specs.items()
        for n, verdict in enumerate(verdicts, start=1)
    ]
    async with store.unit_of_work() as uow:
        await uow.connection.execute(insert(lines), rows)
        await uow.commit()

    async def listed(selection: Selection, batch: int) -> list[tuple[str, int]]:
        async with StatusQuery(store=store).listing(selection, batch=batch) as listing:
            return [
                (line.portal, line.config_id) async for v in listing.portals() for line in v.lines
            ]

    everything = [
        ("b-bad.test", 4),
        ("b-bad.test", 2),
        ("b-bad.test", 3),
        ("b-bad.test", 1),
        ("b-bad.test", 5),
        ("e-bad.test", 1),
        ("e-bad.test", 2),
        ("a-fine.test", 2),
        ("a-fine.test", 1),
        ("a-fine.test", 3),
        ("c-fine.test", 1),
        ("d-deleted-bad.test", 1),
        ("f-unchecked.test", 1),
        ("f-unchecked.test", 2),
    ]
    for batch in (1, 3, 1000):  # batches that end inside a portal and inside each read
        assert await listed(Selection(), batch) == everything
    in_sync = [key for key in everything if rows[_at(rows, key)]["verdict"] == "in_sync"]
    assert await listed(Selection(verdicts=frozenset({"in_sync"})), 2) == in_sync
    assert in_sync[0] == ("b-bad.test", 1)  # still first: its bad lines are filtered out

    # a limit spans both reads
    async with store.unit_of_work(readonly=True) as uow:
        read = uow.lines.read(
            Selection().line_filter(), order=ORDER, first_with=OUT_OF_SYNC, limit=9, batch=4
        )
        limited = [(line.portal, line.config_id) async for b in read for line in b]
    assert limited == everything[:9]


def _at(rows: list[dict[str, object]], key: tuple[str, int]) -> int:
    return next(i for i, r in enumerate(rows) if (r["portal"], r["config_id"]) == key)


async def test_a_sqlalchemy_without_the_synchronous_postgresql_engine_reads_the_async_way(
    backend: Backend, store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The synchronous PostgreSQL engine is made with a private flag of SQLAlchemy's (the
    one its asyncio layer uses): a release without it must not break ``sipline status``."""
    await fill(store)
    expected = await _listing(store)

    def refused(*args: object, **kwargs: object) -> None:
        raise TypeError("Invalid argument(s) '_is_async' sent to create_engine()")

    monkeypatch.setattr("worker.adapters.store.reading.create_sync_postgres_engine", refused)
    async with open_reader(backend.settings()) as reader:
        if backend.name == "postgresql":
            assert isinstance(reader, SqlStore)
        else:
            assert isinstance(reader, ReadingStore)
        assert await _listing(reader) == expected
