"""Real processes for the resilience suite: the sandbox, the worker, a private RabbitMQ node.

Every process is started by a context manager that ends it on the way out, failure or not.
The shared broker on 127.0.0.1:5672 is never stopped or reconfigured: the broker-restart
scenario runs its own node (``sipline-resilience-*@localhost``) on a port of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def until(predicate: Any, *, limit: float, what: str, every: float = 0.05) -> None:
    """Poll ``predicate`` (sync or async) until true; fail with ``what`` after ``limit`` s."""
    deadline = time.monotonic() + limit
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {limit:.0f} s waiting for {what}")
        await asyncio.sleep(every)


def _clean_env() -> dict[str, str]:
    """The environment without any SIPLINE_* or Voximplant setting of the caller's."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SIPLINE_", "VOXIMPLANT_", "RABBITMQ_"))
    }


# --- the sandbox ------------------------------------------------------------------------
@dataclass
class SandboxInfo:
    portal_url: str
    webhook_url: str
    account_admin_url: str
    credentials: Path
    config_ids: list[int]
    dotenv: Path

    async def portal_faults(self, session: aiohttp.ClientSession, **faults: float) -> None:
        async with session.post(f"{self.portal_url}/_sandbox/faults", json=faults) as r:
            assert r.status == 200, await r.text()

    async def account_faults(self, session: aiohttp.ClientSession, **spec: Any) -> None:
        async with session.post(f"{self.account_admin_url}faults", json=spec) as r:
            assert r.status == 200, await r.text()

    async def clear_faults(self, session: aiohttp.ClientSession) -> None:
        zero = dict.fromkeys(("latency", "error_500", "html", "drop", "query_limit", "stall"), 0)
        await self.portal_faults(session, **zero)
        async with session.delete(f"{self.account_admin_url}faults") as r:
            assert r.status == 200

    async def counters(self, session: aiohttp.ClientSession) -> dict[str, Any]:
        async with session.get(f"{self.portal_url}/_sandbox/counters") as r:
            portal = await r.json()
        async with session.get(f"{self.account_admin_url}stats") as r:
            account = await r.json()
        return {"portal": portal, "account": account}

    async def lines(self, session: aiohttp.ClientSession) -> list[dict[str, Any]]:
        """Every line of the portal, through the REST API the worker uses."""
        found: list[dict[str, Any]] = []
        start: int | None = 0
        while start is not None:
            async with session.post(
                f"{self.webhook_url}voximplant.sip.get", json={"START": start}
            ) as r:
                body = await r.json()
            found.extend(body["result"])
            start = body.get("next")
        return found


def _spawn_sandbox(
    directory: Path, portal: Mapping[str, Any], accept: Mapping[str, str], lines: int
) -> tuple[subprocess.Popen[bytes], Path]:
    directory.mkdir(parents=True, exist_ok=True)
    config = {
        "directory": str(directory / "state"),
        "dotenv": str(directory / "sandbox.env"),
        "info": str(directory / "info.json"),
        "portal": dict(portal),
        "accept": dict(accept),
        "wait_seconds": 0.1,
        "progress_seconds": 0.1,
        "lines": lines,
    }
    (directory / "config.json").write_text(json.dumps(config))
    with (directory / "sandbox.log").open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.resilience.sandbox_proc", str(directory / "config.json")],
            cwd=REPO,
            env=_clean_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return proc, directory / "info.json"


def _read_info(directory: Path, info_path: Path) -> SandboxInfo:
    info = json.loads(info_path.read_text())
    return SandboxInfo(
        portal_url=info["portal_url"],
        webhook_url=info["webhook_url"],
        account_admin_url=info["account_admin_url"],
        credentials=Path(info["credentials"]),
        config_ids=info["config_ids"],
        dotenv=directory / "sandbox.env",
    )


@contextlib.asynccontextmanager
async def sandbox_process(
    directory: Path, *, portal: Mapping[str, Any], accept: Mapping[str, str], lines: int = 0
) -> AsyncIterator[SandboxInfo]:
    """The sandbox in its own process, ready (``info.json`` written) when entered."""
    proc, info_path = _spawn_sandbox(directory, portal, accept, lines)
    try:
        await until(
            lambda: info_path.exists() or proc.poll() is not None,
            limit=30,
            what="the sandbox process",
        )
        assert proc.poll() is None, f"the sandbox exited; see {directory / 'sandbox.log'}"
        yield _read_info(directory, info_path)
    finally:
        _end(proc)


def _end(proc: subprocess.Popen[bytes], grace: float = 10.0) -> int | None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
    return proc.returncode


# --- the worker ---------------------------------------------------------------------------
def worker_env(values: Mapping[str, Any]) -> dict[str, str]:
    """``SIPLINE_*`` variables for settings values (lists as JSON)."""
    return {
        f"SIPLINE_{name.upper()}": json.dumps(value) if isinstance(value, list) else str(value)
        for name, value in values.items()
    }


@dataclass
class WorkerProcess:
    """``python -m worker.cli.main run --env-file F``; stderr (JSON logs) kept per start."""

    env_file: Path
    values: dict[str, Any]
    logs: Path
    starts: int = 0
    exits: list[int] = field(default_factory=list)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.values['metrics_port']}"

    @property
    def log_files(self) -> list[Path]:
        return sorted(self.logs.glob("worker-*.log"))

    def start(self) -> None:
        assert self.proc is None or self.proc.poll() is not None
        self.starts += 1
        self.logs.mkdir(parents=True, exist_ok=True)
        with (self.logs / f"worker-{self.starts}.log").open("wb") as stderr:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "worker.cli.main", "run", "--env-file", str(self.env_file)],
                cwd=REPO,
                env={**_clean_env(), **worker_env(self.values)},
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def reap(self) -> int | None:
        """The exit code if the process has ended since the last look (recorded once)."""
        if self.proc is None or self.proc.poll() is None:
            return None
        code = self.proc.returncode
        self.exits.append(code)
        self.proc = None
        return code

    async def ready(self, session: aiohttp.ClientSession, limit: float = 30.0) -> None:
        async def consuming() -> bool:
            assert self.running(), f"the worker exited: {self.tail()}"
            try:
                async with session.get(f"{self.metrics_url}/readyz") as r:
                    return r.status == 200
            except aiohttp.ClientError:
                return False

        await until(consuming, limit=limit, what="the worker to consume", every=0.1)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(timeout=10)
        self.reap()

    def stop(self, grace: float = 30.0) -> int | None:
        if self.proc is None:
            return None
        code = _end(self.proc, grace)
        self.reap()
        return code

    def tail(self, lines: int = 20) -> str:
        files = self.log_files
        if not files:
            return "(no log)"
        return "\n".join(files[-1].read_text(errors="replace").splitlines()[-lines:])

    async def metric(self, session: aiohttp.ClientSession, name: str) -> float:
        """The sum of a metric's samples (all labels) from ``/metrics``."""
        async with session.get(f"{self.metrics_url}/metrics") as r:
            text = await r.text()
        total = 0.0
        for line in text.splitlines():
            if line.startswith(name) and not line.startswith("#"):
                head, _, value = line.rpartition(" ")
                if head.split("{", 1)[0] == name:
                    total += float(value)
        return total


@contextlib.contextmanager
def worker_process(env_file: Path, values: dict[str, Any], logs: Path) -> Iterator[WorkerProcess]:
    worker = WorkerProcess(env_file=env_file, values=values, logs=logs)
    try:
        yield worker
    finally:
        worker.stop(grace=15)


# --- a private RabbitMQ node ----------------------------------------------------------------
@dataclass
class PrivateBroker:
    """A RabbitMQ node of this suite's own; every rabbitmqctl call names it with ``-n``."""

    node: str
    port: int
    directory: Path

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    def ctl(self, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["rabbitmqctl", "-q", "-n", self.node, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            cwd="/tmp",
        )

    def stop_app(self) -> None:
        result = self.ctl("stop_app")
        assert result.returncode == 0, result.stderr

    def start_app(self) -> None:
        result = self.ctl("start_app")
        assert result.returncode == 0, result.stderr


def _private_node_unavailable() -> str | None:
    for tool in ("rabbitmq-server", "rabbitmqctl"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    return None


@contextlib.contextmanager
def private_broker() -> Iterator[PrivateBroker | str]:
    """A started private node, or the reason it cannot start (the caller skips).

    Its files live in a fresh directory under /tmp (pytest's own are 0700, and the server
    runs as the ``rabbitmq`` user), removed afterwards.
    """
    reason = _private_node_unavailable()
    if reason is not None:
        yield reason
        return
    directory = Path(tempfile.mkdtemp(prefix="sipline-rabbit-"))
    try:
        yield from _node(directory)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _node(directory: Path) -> Iterator[PrivateBroker | str]:
    for sub in ("mnesia", "log"):
        (directory / sub).mkdir(exist_ok=True)
    port, dist = free_port(), free_port()
    node = f"sipline-resilience-{port}@localhost"
    (directory / "rabbitmq.conf").write_text(
        f"listeners.tcp.default = 127.0.0.1:{port}\nloopback_users = none\n"
    )
    (directory / "enabled_plugins").write_text("[].\n")
    for path in [directory, *directory.iterdir()]:
        path.chmod(0o777 if path.is_dir() else 0o644)  # the server may run as `rabbitmq`
    env = {
        **_clean_env(),
        "RABBITMQ_NODENAME": node,
        "RABBITMQ_NODE_PORT": str(port),
        "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
        "RABBITMQ_DIST_PORT": str(dist),
        "RABBITMQ_MNESIA_BASE": str(directory / "mnesia"),
        "RABBITMQ_LOG_BASE": str(directory / "log"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(directory / "enabled_plugins"),
        "RABBITMQ_CONFIG_FILE": str(directory / "rabbitmq"),
        "RABBITMQ_PID_FILE": str(directory / "rabbitmq.pid"),
    }
    broker = PrivateBroker(node=node, port=port, directory=directory)
    started = subprocess.run(
        ["rabbitmq-server", "-detached"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        cwd="/tmp",
    )
    try:
        if started.returncode != 0:
            yield f"rabbitmq-server -detached failed: {started.stderr.strip()[:300]}"
            return
        if not _await_node(broker, limit=45.0):
            log = "\n".join(p.read_text(errors="replace")[-800:] for p in directory.glob("log/*"))
            yield f"the private RabbitMQ node {node} did not start: {log}"
            return
        yield broker
    finally:
        broker.ctl("stop", timeout=60)


def _await_node(broker: PrivateBroker, *, limit: float) -> bool:
    """``await_startup`` fails at once until the node registers with epmd: retry it."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        result = broker.ctl("await_startup", "--timeout", "30", timeout=40)
        if result.returncode == 0:
            return True
        time.sleep(0.5)
    return False
