"""Running the real ``sipline`` executable against a test's store."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner, Result

from tests.store.conftest import Backend

SIPLINE = str(Path(sys.executable).with_name("sipline"))


def store_env(backend: Backend, **extra: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIPLINE_")}
    env["SIPLINE_STORE_URL"] = backend.url
    env["SIPLINE_STORE_KEY"] = backend.key
    if backend.schema:
        env["SIPLINE_STORE_SCHEMA"] = backend.schema
    for name, value in extra.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def sipline(
    backend: Backend, *args: str, env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SIPLINE, *args],
        env=env or store_env(backend),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def invoke(backend: Backend, *args: str, env: dict[str, str] | None = None) -> Result:
    """The same command in this process (click's runner): fast enough for long scenarios.

    Exit codes, stdout and stderr are the real command's; only the process is shared.
    """
    from worker.cli.main import main

    wanted = env or store_env(backend)
    overrides: dict[str, str | None] = {k: None for k in os.environ if k not in wanted}
    overrides.update(wanted)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        return CliRunner(env=overrides).invoke(main, list(args), catch_exceptions=False)
    finally:  # the command configures logging for itself; give pytest its handlers back
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(level)
