"""``sipline run`` opens the store first: migrations at start, one-line refusals."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

from pydantic import SecretStr

from tests.amqp_helpers import AMQP_URL, remove_worker_topology, unique_prefix
from tests.lifecycle.processes import sipline, spawn
from worker.adapters.store import generate_key, head_revision, inspect_schema, open_store
from worker.sandbox.voximplant import ensure_service_account
from worker.settings import Settings


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIPLINE_")}
    env.update(
        {
            "SIPLINE_METRICS_PORT": "off",
            "SIPLINE_LOG_FORMAT": "json",
            "SIPLINE_DATA_DIR": str(tmp_path / "data"),
            **extra,
        }
    )
    return env


def _run(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "worker.cli.main", "run"],
        env=env,
        capture_output=True,
        text=True,
        timeout=50,
        check=False,
    )


async def test_a_store_opened_with_the_wrong_key_stops_the_start(tmp_path: Path) -> None:
    key = generate_key()
    async with open_store(
        Settings(data_dir=tmp_path / "data", store_key=SecretStr(key))  # records its key
    ):
        pass
    result = await asyncio.to_thread(_run, _env(tmp_path, SIPLINE_STORE_KEY=generate_key()))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("sipline: ")
    assert "does not open the store" in result.stderr
    assert key not in result.stderr + result.stdout


def test_an_unreachable_store_exits_1(tmp_path: Path) -> None:
    url = "postgresql://sipline:canarypassword@127.0.0.1:1/x"
    result = _run(_env(tmp_path, SIPLINE_STORE_URL=url))
    assert result.returncode == 1
    assert "cannot open the store" in result.stderr
    assert "canarypassword" not in result.stderr + result.stdout


async def test_run_migrates_the_store_at_start_then_stops_on_sigterm(tmp_path: Path) -> None:
    credentials = ensure_service_account(
        tmp_path / "vox", account_id=1, account_email="ops@example.com"
    ).credentials_path
    env = _env(
        tmp_path,
        SIPLINE_AMQP_URL=AMQP_URL,
        SIPLINE_TOPOLOGY_PREFIX=unique_prefix("store-run"),
        VOXIMPLANT_CREDENTIALS=str(credentials),
    )
    async with spawn(*sipline("run"), env=env) as run:
        try:
            await run.wait_for_line('"consuming"', limit=40)
        finally:
            run.signal(signal.SIGTERM)
            code, _ = await run.ends_within(40)
            await remove_worker_topology(env["SIPLINE_TOPOLOGY_PREFIX"])
    assert code == 0, run.output()
    state = await inspect_schema(Settings(data_dir=tmp_path / "data"))
    assert state.current == head_revision()
    upgraded = [line for line in run.lines if "schema upgraded" in line]
    assert len(upgraded) == 1
    assert not [line for line in run.lines if '"alembic' in line]  # one line of ours, no noise
