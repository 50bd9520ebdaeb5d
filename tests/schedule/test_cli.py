"""``sipline portals add/set --sweep-interval``: 0 turns a portal's scheduled sweeps off,
less than a second is refused."""

from __future__ import annotations

import json

from tests.store.cli_helpers import invoke, store_env
from tests.store.conftest import Backend

HOOK = "https://cli.bitrix24.test/rest/1/code/"


def test_sweep_interval_zero_is_off_and_below_a_second_is_refused(backend: Backend) -> None:
    env = store_env(backend, HOOK_URL=HOOK)

    def run(*args: str, code: int = 0) -> str:
        result = invoke(backend, "portals", *args, env=env)
        assert result.exit_code == code, (args, result.stdout, result.stderr)
        return result.stdout

    run(
        "add",
        "cli.bitrix24.test",
        "--webhook-url-env",
        "HOOK_URL",
        "--sweep-interval",
        "0.5",
        code=2,
    )
    run("add", "cli.bitrix24.test", "--webhook-url-env", "HOOK_URL", "--sweep-interval", "0")
    assert json.loads(run("show", "cli.bitrix24.test", "--json"))["sweep_interval"] == 0
    run("set", "cli.bitrix24.test", "--sweep-interval", "120")
    assert json.loads(run("show", "cli.bitrix24.test", "--json"))["sweep_interval"] == 120
    run("set", "cli.bitrix24.test", "--sweep-interval", "0.2", code=2)
