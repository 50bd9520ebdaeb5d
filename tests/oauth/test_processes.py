"""The proof of OAuth tokens shared through the store: 3 separate ``sipline run`` processes on
one OAuth sandbox portal whose access tokens live 3 s and whose refresh tokens are
single-use; 300 ``line.create`` published over 30 s. Every command gets its outcome, the
OAuth server refuses no refresh (``invalid_grant`` 0), and every expiry costs one refresh
(the sandbox's counters). PostgreSQL, and one SQLite file opened by all three.

The run is :func:`benchmarks.oauth_processes.run_once`, the benchmark's own, so the figures
in docs/performance.md and this test measure the same thing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.oauth_processes import run_once
from tests.store.conftest import REQUIRE_PG, _postgres_problem

COMMANDS = 300
RATE = 10.0  # 30 s of commands: about ten lifetimes of a 3 s access token


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
async def test_three_processes_refresh_once_per_expiry(backend: str, tmp_path: Path) -> None:
    if backend == "postgresql":
        problem = await _postgres_problem()
        if problem is not None:
            if REQUIRE_PG:
                pytest.fail(f"PostgreSQL is required: {problem}")
            pytest.skip(f"no PostgreSQL: {problem}")
    result = await run_once(
        backend=backend,
        processes=3,
        commands=COMMANDS,
        rate=RATE,
        token_ttl=3.0,
        directory=tmp_path,
    )
    assert result.answered == COMMANDS, result
    assert result.outcomes == {"line.reconciled": COMMANDS}, result
    assert result.invalid_grant == 0, result
    assert result.expiries >= 8, result  # the tokens did expire, again and again
    assert abs(result.refreshes - result.expiries) <= 1, result
