"""``sipline run`` as a real process: the callback route is on with the salt and the API
key (and the store every ``run`` opens), off otherwise, and says which in one line at start;
neither secret reaches its output."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.amqp_helpers import AMQP_URL, unique_prefix
from tests.callbacks.helpers import API_KEY, SALT, fail
from worker.sandbox.voximplant import ensure_service_account

ACCOUNT = 4242


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    credentials = ensure_service_account(
        tmp_path / "vox", account_id=ACCOUNT, account_email="ops@example.com"
    ).credentials_path
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SIPLINE_", "VOXIMPLANT_"))}
    env.update(
        {
            "SIPLINE_AMQP_URL": AMQP_URL,
            "SIPLINE_TOPOLOGY_PREFIX": unique_prefix("cb-run"),
            "SIPLINE_METRICS_PORT": "0",
            "SIPLINE_LOG_FORMAT": "json",
            "SIPLINE_DATA_DIR": str(tmp_path / "data"),
            "VOXIMPLANT_CREDENTIALS": str(credentials),
            **extra,
        }
    )
    return env


async def _serve(env: dict[str, str], posts: list[dict[str, Any]]) -> tuple[list[Any], str]:
    """Start ``sipline run``, POST each body once it consumes, stop it with SIGTERM.

    Returns the answers (status, JSON) and everything the process wrote."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "worker.cli.main",
        "run",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stderr is not None
    lines: list[str] = []
    answers: list[Any] = []
    try:
        async with asyncio.timeout(40):
            while not any('"consuming"' in line for line in lines):
                line = (await proc.stderr.readline()).decode()
                if not line:
                    pytest.fail(f"sipline run ended before consuming: {lines}")
                lines.append(line)
        (url,) = [json.loads(line)["url"] for line in lines if '"http server listening"' in line]
        async with aiohttp.ClientSession(trust_env=False) as session:
            for body in posts:
                async with session.post(url + "/voximplant/callbacks", json=body) as response:
                    answers.append((response.status, await response.json()))
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = await asyncio.wait_for(proc.communicate(), timeout=40)
    assert proc.returncode == 0, err
    return answers, "".join(lines) + err.decode() + out.decode()


def _signed(callback_id: int, reg_id: int) -> dict[str, Any]:
    return fail(callback_id, reg_id, account_id=ACCOUNT)


async def test_without_the_secrets_the_route_is_off(tmp_path: Path) -> None:
    answers, output = await _serve(_env(tmp_path), [{"callbacks": [_signed(1, 5)]}])
    (off,) = [json.loads(line) for line in output.splitlines() if "callbacks are off" in line]
    assert off["message"] == (
        "voximplant callbacks are off (SIPLINE_VOXIMPLANT_CALLBACK_SALT and "
        "SIPLINE_VOXIMPLANT_API_KEY not set): POST /voximplant/callbacks answers 503"
    )
    assert answers[0][0] == 503


async def test_with_the_secrets_the_route_verifies_and_never_prints_them(tmp_path: Path) -> None:
    env = _env(tmp_path, SIPLINE_VOXIMPLANT_CALLBACK_SALT=SALT, SIPLINE_VOXIMPLANT_API_KEY=API_KEY)
    forged = {**_signed(1, 5), "hash": "0" * 32}
    bodies = [
        {"callbacks": [forged]},
        {"callbacks": [_signed(2, 777)]},  # genuine, for a registration no line references
        {"callbacks": [_signed(2, 777)]},  # the same again
        {"callbacks": [{"callback_id": SALT}]},
    ]
    answers, output = await _serve(env, bodies)
    assert [status for status, _ in answers] == [403, 200, 200, 400]
    assert answers[1][1]["orphans"] == [777]
    assert answers[2][1]["replayed"] == [2]
    assert "voximplant callbacks are on" in output
    assert "orphan" in output
    assert SALT not in output
    assert API_KEY not in output
    assert SALT not in json.dumps(answers)
