"""``sipline store``: real processes, exit codes, one-line errors."""

from __future__ import annotations

import subprocess

from tests.store.cli_helpers import SIPLINE, invoke, sipline, store_env
from tests.store.conftest import Backend
from worker.adapters.store import generate_key, head_revision


def test_three_processes_upgrading_at_once_all_succeed_once(backend: Backend) -> None:
    procs = [
        subprocess.Popen(
            [SIPLINE, "store", "upgrade"],
            env=store_env(backend),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    outputs = [proc.communicate(timeout=60) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0, 0], outputs
    said = [out for out, _ in outputs]
    assert sum(f"upgraded from empty to {head_revision()}" in out for out in said) == 1
    assert sum("nothing to do" in out for out in said) == 2


def test_info_and_the_key_errors_exit_2_in_one_line(backend: Backend) -> None:
    fresh = invoke(backend, "store", "info", "--json")
    assert fresh.exit_code == 0, fresh.stderr
    assert '"revision": null' in fresh.stdout
    assert invoke(backend, "store", "upgrade").exit_code == 0
    first = invoke(backend, "store", "info", "--json")
    assert first.exit_code == 0, first.stderr
    assert f'"revision": "{head_revision()}"' in first.stdout
    for env in (
        store_env(backend, SIPLINE_STORE_KEY=None),
        store_env(backend, SIPLINE_STORE_KEY=generate_key()),
    ):
        refused = invoke(backend, "store", "info", env=env)
        assert refused.exit_code == 2
        assert refused.stdout == ""
        assert refused.stderr.count("\n") == 1
        assert "SIPLINE_STORE_KEY" in refused.stderr
        assert backend.key not in refused.stderr


def test_an_unreachable_database_exits_1_without_its_password() -> None:
    backend = Backend("postgresql", "postgresql://sipline:hunter2secret@127.0.0.1:1/none", None, "")
    result = sipline(backend, "store", "upgrade", env=store_env(backend, SIPLINE_STORE_KEY=None))
    assert result.returncode == 1
    assert "unavailable" in result.stderr
    assert "hunter2secret" not in result.stderr
