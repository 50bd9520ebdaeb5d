"""``sipline run`` exit codes: 0 after a graceful stop, 1 without a broker, 2 on bad settings."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.amqp_helpers import AMQP_URL, unique_prefix
from worker.sandbox.voximplant import ensure_service_account


@pytest.fixture(scope="module")
def credentials(tmp_path_factory: pytest.TempPathFactory) -> Path:
    key = ensure_service_account(
        tmp_path_factory.mktemp("vox"), account_id=1, account_email="ops@example.com"
    )
    return key.credentials_path


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIPLINE_")}
    env.update({"SIPLINE_METRICS_PORT": "off", "SIPLINE_LOG_FORMAT": "json", **extra})
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


def test_bad_settings_exit_2() -> None:
    result = _run(_env(SIPLINE_PREFETCH="0"))
    assert result.returncode == 2
    assert "SIPLINE_PREFETCH" in result.stderr


def test_missing_credentials_exit_2() -> None:
    result = _run(_env(VOXIMPLANT_CREDENTIALS="/nonexistent/credentials.json"))
    assert result.returncode == 2
    assert "/nonexistent/credentials.json" in result.stderr


def test_no_broker_exits_1(credentials: Path) -> None:
    result = _run(
        _env(
            VOXIMPLANT_CREDENTIALS=str(credentials),
            SIPLINE_AMQP_URL="amqp://guest:guest@127.0.0.1:1/",
        )
    )
    assert result.returncode == 1
    assert "cannot reach the broker" in result.stderr


def test_sigterm_stops_gracefully_with_exit_0(credentials: Path) -> None:
    prefix = unique_prefix("cli")
    process = subprocess.Popen(
        [sys.executable, "-m", "worker.cli.main", "run"],
        env=_env(
            VOXIMPLANT_CREDENTIALS=str(credentials),
            SIPLINE_AMQP_URL=AMQP_URL,
            SIPLINE_TOPOLOGY_PREFIX=prefix,
        ),
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        assert process.stderr is not None
        for line in process.stderr:
            if '"consuming"' in line:
                break
            assert time.monotonic() < deadline, "the worker never started consuming"
        process.send_signal(signal.SIGTERM)
        _, rest = process.communicate(timeout=30)
        assert process.returncode == 0, rest[-2000:]
        assert "draining" in rest
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
        subprocess.run(
            [sys.executable, "-c", _CLEANUP, prefix], check=True, timeout=30, capture_output=True
        )


_CLEANUP = """
import asyncio, sys, aio_pika
from tests.amqp_helpers import AMQP_URL
from worker.adapters.amqp.topology import delete_all
from worker.runtime.wiring import topology_spec
from worker.settings import Settings

async def main(prefix):
    connection = await aio_pika.connect(AMQP_URL)
    spec = topology_spec(Settings(_env_file=None, topology_prefix=prefix))
    await delete_all(await connection.channel(), spec)
    await connection.close()

asyncio.run(main(sys.argv[1]))
"""
