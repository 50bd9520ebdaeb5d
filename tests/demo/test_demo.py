"""The README's first command: ``sipline demo`` runs the tour and exits 0."""

from __future__ import annotations

import os
import subprocess
import sys


def test_demo_runs_the_tour_and_exits_zero() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "worker.cli.main", "demo"],
        capture_output=True,
        text=True,
        timeout=55,
        env={**os.environ, "COLUMNS": "160"},
        check=False,
    )
    out = result.stdout
    assert result.returncode == 0, result.stderr[-2000:]
    for expected in (
        "line.created",
        "in_sync",
        "registration_failed",
        "config_drift",
        "portal.swept",
        "command.rejected",
        "line.deleted",
        "Final verdict per line",
    ):
        assert expected in out, f"{expected!r} missing from the demo's output"
    assert "sandbox-pass" not in out + result.stderr, "the demo printed a password"
    assert "not-the-password" not in out + result.stderr
