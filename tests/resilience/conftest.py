"""Fixtures of the resilience suite: a sandbox process, a worker process, the taps, figures.

Each scenario records its figures with the ``figures`` fixture; they are printed at the end
of the run (and written to ``$SIPLINE_RESILIENCE_FIGURES`` when set) for docs/reliability.md.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.amqp_helpers import AMQP_URL
from tests.resilience.ledger import Tap, tap
from tests.resilience.processes import (
    SandboxInfo,
    WorkerProcess,
    free_port,
    sandbox_process,
    worker_process,
)
from tests.resilience.secrets import SIP_PASSWORD, WEBHOOK_CODE, Scan, scan
from worker.runtime.wiring import topology_spec
from worker.settings import Settings

PORTAL = "resilience.bitrix24.test"
SIP_SERVER = "sip.resilience.test"
FIGURES: dict[str, dict[str, Any]] = {}
SCANS: list[Scan] = []


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not FIGURES:
        return
    if SCANS:
        FIGURES["secrets scan, whole run"] = {
            "scenarios": len(SCANS),
            "log lines": sum(s.log_lines for s in SCANS),
            "events": sum(s.events for s in SCANS),
            "dead letters": sum(s.dead_letters for s in SCANS),
            "leaks": sum(len(s.leaks) for s in SCANS),
        }
    terminalreporter.section("resilience figures")
    for name, values in FIGURES.items():
        terminalreporter.write_line(f"{name}: {json.dumps(values, sort_keys=False)}")
    target = os.environ.get("SIPLINE_RESILIENCE_FIGURES")
    if target:
        Path(target).write_text(json.dumps(FIGURES, indent=2) + "\n")


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> dict[str, Any]:
    values: dict[str, Any] = {}
    FIGURES[request.node.name] = values
    return values


def worker_values(prefix: str, amqp_url: str = AMQP_URL, **overrides: Any) -> dict[str, Any]:
    """The worker's settings for a scenario (also used to declare the same topology)."""
    values: dict[str, Any] = {
        "amqp_url": amqp_url,
        "topology_prefix": prefix,
        "prefetch": 64,
        "retry_delays": [0.2, 0.5, 1.0],
        "max_attempts": 8,
        "settle_intervals": [0.2, 0.5, 1.0],
        "settle_deadline": 30.0,
        "max_body_bytes": 16384,
        "metrics_port": free_port(),
        "reconnect_timeout": 20.0,
        "shutdown_grace": 5.0,
        "log_format": "json",
        "log_level": "INFO",
        "events_max_age": "1h",
        "events_max_bytes": 200_000_000,
    }
    values.update(overrides)
    return values


def spec_of(values: dict[str, Any]) -> Any:
    return topology_spec(Settings(_env_file=None, **values))


def unique_prefix(tag: str) -> str:
    return f"test-resilience-{tag}-{uuid.uuid4().hex[:8]}"


def portal_options(**overrides: Any) -> dict[str, Any]:
    return {
        "domain": PORTAL,
        "webhook_code": WEBHOOK_CODE,
        "cloud_pbx_limit": 100_000,
        "bucket_capacity": 1_000_000,
        "drain_per_second": 100_000.0,
        "page_size": 500,
        "seed": 11,
        **overrides,
    }


ACCEPT = {"server": SIP_SERVER, "login": "*", "password": SIP_PASSWORD}


@dataclass
class Run:
    """One scenario's moving parts."""

    sandbox: SandboxInfo
    tap: Tap
    worker: WorkerProcess
    session: aiohttp.ClientSession
    values: dict[str, Any]

    def scan(self) -> Scan:
        result = scan(
            logs=self.worker.log_files,
            ledger=self.tap.ledger,
            credentials=self.sandbox.credentials,
        )
        SCANS.append(result)
        return result


@pytest.fixture
def make_run(tmp_path: Path) -> Any:
    """``async with make_run(tag, lines=N, amqp_url=…, **worker overrides) as run``."""
    import contextlib

    @contextlib.asynccontextmanager
    async def _make(
        tag: str, *, lines: int = 0, amqp_url: str = AMQP_URL, **overrides: Any
    ) -> AsyncIterator[Run]:
        values = worker_values(unique_prefix(tag), amqp_url, **overrides)
        async with (
            aiohttp.ClientSession() as session,
            sandbox_process(
                tmp_path / "sandbox", portal=portal_options(), accept=ACCEPT, lines=lines
            ) as sandbox,
            tap(amqp_url, spec_of(values)) as tapped,
        ):
            with worker_process(sandbox.dotenv, values, tmp_path / "logs") as worker:
                yield Run(sandbox, tapped, worker, session, values)

    return _make
