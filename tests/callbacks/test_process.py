"""``sipline run`` as a real process: the callback route is on with the salt and the API
key (and the store every ``run`` opens), off otherwise, and says which in one line at start;
neither secret reaches its output."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import aiohttp

from tests.amqp_helpers import AMQP_URL, remove_worker_topology, unique_prefix
from tests.callbacks.helpers import API_KEY, SALT, fail
from tests.lifecycle.processes import clean_env, sipline, spawn
from worker.sandbox.voximplant import ensure_service_account

ACCOUNT = 4242


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    credentials = ensure_service_account(
        tmp_path / "vox", account_id=ACCOUNT, account_email="ops@example.com"
    ).credentials_path
    return clean_env(
        SIPLINE_AMQP_URL=AMQP_URL,
        SIPLINE_TOPOLOGY_PREFIX=unique_prefix("cb-run"),
        SIPLINE_METRICS_PORT="0",
        SIPLINE_DATA_DIR=str(tmp_path / "data"),
        VOXIMPLANT_CREDENTIALS=str(credentials),
        **extra,
    )


async def _serve(env: dict[str, str], posts: list[dict[str, Any]]) -> tuple[list[Any], str]:
    """Start ``sipline run``, POST each body once it consumes, stop it with SIGTERM.

    Returns the answers (status, JSON) and everything the process wrote."""
    answers: list[Any] = []
    async with spawn(*sipline("run"), env=env, capture_stdout=True) as run:
        try:
            await run.wait_for_line('"consuming"', limit=40)
            (url,) = [
                json.loads(line)["url"] for line in run.lines if '"http server listening"' in line
            ]
            async with aiohttp.ClientSession(trust_env=False) as session:
                for body in posts:
                    async with session.post(url + "/voximplant/callbacks", json=body) as response:
                        answers.append((response.status, await response.json()))
        finally:
            run.signal(signal.SIGTERM)
            code, _ = await run.ends_within(40)
            await remove_worker_topology(env["SIPLINE_TOPOLOGY_PREFIX"])
    assert code == 0, run.output()
    return answers, run.output() + run.stdout()


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
