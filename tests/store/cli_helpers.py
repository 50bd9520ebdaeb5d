"""Running the real ``sipline`` executable against a test's store."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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
