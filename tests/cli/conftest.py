"""Real processes against the real broker: ``sipline sandbox``, ``sipline run`` and the
short-lived ``sipline send`` / ``sipline sandbox-ctl`` calls a user would type.

One sandbox and one worker serve the whole module (under a unique topology prefix); every
process's output is kept, so the last test can check that the SIP password never appeared.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.amqp_helpers import AMQP_URL, remove_topology, unique_prefix
from worker.runtime.wiring import topology_spec
from worker.sandbox.registrations import DEFAULT_PASSWORD, DEFAULT_SERVER
from worker.settings import Settings

SIPLINE = str(Path(sys.executable).with_name("sipline"))
PORTAL = "sandbox.bitrix24.test"
CANARY_SERVER = "sip.canary.test"
CANARY = f"canary-{uuid.uuid4().hex}"  # the SIP password of every line these tests create
INTERVALS = "[0.2,0.5]"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(predicate: Callable[[], bool], limit: float, what: str) -> None:
    """Poll ``predicate`` with a deadline (never a bare sleep)."""
    deadline = time.monotonic() + limit
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {limit}s waiting for {what}")
        time.sleep(0.05)


def base_env(**extra: str) -> dict[str, str]:
    """The caller's environment without any SIPLINE_* setting, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIPLINE_")}
    env.pop("VOXIMPLANT_CREDENTIALS", None)
    env["SIPLINE_AMQP_URL"] = AMQP_URL
    env.update(extra)
    return env


@dataclass
class Server:
    """A long-running process whose output goes to files."""

    name: str
    popen: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path

    def output(self) -> str:
        return self.stdout.read_text() + self.stderr.read_text()

    def stop(self, limit: float = 20.0) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
        return self.popen.wait(timeout=limit)


def start(name: str, args: list[str], env: dict[str, str], directory: Path) -> Server:
    stdout, stderr = directory / f"{name}.out", directory / f"{name}.err"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        popen = subprocess.Popen(
            [SIPLINE, *args], env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL
        )
    return Server(name, popen, stdout, stderr)


@dataclass(frozen=True)
class Call:
    """One ``sipline`` command line, what to feed its stdin, and extra environment."""

    args: list[str]
    stdin: str | None = None
    env: dict[str, str] | None = None


@dataclass
class Stack:
    directory: Path
    env_file: Path
    prefix: str
    sandbox: Server
    worker: Server
    outputs: list[str] = field(default_factory=list)

    def sipline(
        self, *args: str, stdin: str | None = None, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run one short ``sipline`` command as a user would, and keep its output."""
        return self.together(Call(list(args), stdin, env))[0]

    def together(self, *calls: Call, limit: float = 30.0) -> list[subprocess.CompletedProcess[str]]:
        """Run independent short commands at the same time (each pays Python's start-up)."""
        started = [
            (
                call,
                subprocess.Popen(
                    [SIPLINE, *call.args],
                    stdin=subprocess.PIPE if call.stdin is not None else subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                    env=base_env(**(call.env or {})),
                ),
            )
            for call in calls
        ]
        results = []
        for call, popen in started:
            out, err = popen.communicate(call.stdin, timeout=limit)
            self.outputs += [out, err]
            results.append(subprocess.CompletedProcess(popen.args, popen.returncode, out, err))
        return results

    def send_args(self, *args: str) -> list[str]:
        return ["send", *args, "--env-file", str(self.env_file), "--prefix", self.prefix]

    def ctl_args(self, *args: str) -> list[str]:
        return ["sandbox-ctl", *args, "--env-file", str(self.env_file)]

    def send(self, *args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
        return self.sipline(*self.send_args(*args), **kw)

    def ctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.sipline(*self.ctl_args(*args))


def events(result: subprocess.CompletedProcess[str]) -> tuple[str, list[dict[str, Any]]]:
    """The command id and the events ``sipline send --wait`` printed."""
    assert result.returncode == 0, result.stderr
    first, *rest = result.stdout.splitlines()
    return first, [json.loads(line) for line in rest]


def _worker_settings(prefix: str) -> Settings:
    return Settings(
        _env_file=None, topology_prefix=prefix, retry_delays=[0.2, 0.5], settle_intervals=[0.2, 0.5]
    )


async def _delete_topology(prefix: str) -> None:
    await remove_topology(AMQP_URL, topology_spec(_worker_settings(prefix)))


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def _listening(url: str) -> bool:
    host, port = url.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=1).close()
    except OSError:
        return False
    return True


def _start_sandbox(directory: Path, env_file: Path) -> Server:
    args = ["sandbox", "--state-dir", str(directory / "state"), "--env-file", str(env_file)]
    args += ["--wait-seconds", "0.2", "--progress-seconds", "0.3", "--bucket", "500/100"]
    args += ["--cloud-pbx-limit", "50", "--log-format", "json"]
    args += ["--accept", f"{DEFAULT_SERVER}:*:{DEFAULT_PASSWORD}"]
    args += ["--accept", f"{CANARY_SERVER}:*:{CANARY}"]
    server = start("sandbox", args, base_env(), directory)
    wait_until(lambda: env_file.exists() or server.popen.poll() is not None, 15, "the env file")
    assert server.popen.poll() is None, server.output()
    settings = Settings(_env_file=env_file)
    hook = settings.portals[PORTAL].webhook_url
    assert hook is not None
    urls = [hook.get_secret_value(), str(settings.voximplant_api_url)]
    wait_until(lambda: all(_listening(u) for u in urls), 10, "the sandbox ports")
    return server


def _start_worker(
    directory: Path, env_file: Path, prefix: str, *, port: int | None = None, **extra: str
) -> Server:
    """``sipline run`` on ``port`` (a free one by default), ready; ``extra`` settings."""
    port = port or free_port()
    env = base_env(
        **extra,
        SIPLINE_TOPOLOGY_PREFIX=prefix,
        SIPLINE_METRICS_PORT=str(port),
        SIPLINE_SETTLE_INTERVALS=INTERVALS,
        SIPLINE_RETRY_DELAYS=INTERVALS,
        SIPLINE_SETTLE_DEADLINE="5",
        SIPLINE_SHUTDOWN_GRACE="5",
        SIPLINE_EVENTS_MAX_AGE="1h",
        SIPLINE_EVENTS_MAX_BYTES="50000000",
        SIPLINE_LOG_FORMAT="json",
    )
    server = start("worker", ["run", "--env-file", str(env_file)], env, directory)
    ready = f"http://127.0.0.1:{port}/readyz"
    wait_until(
        lambda: _ready(ready) or server.popen.poll() is not None, 20, "the worker to be ready"
    )
    assert server.popen.poll() is None, server.output()
    return server


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    directory = tmp_path_factory.mktemp("cli")
    env_file = directory / ".env"
    prefix = unique_prefix("cli")
    sandbox = _start_sandbox(directory, env_file)
    try:
        worker = _start_worker(directory, env_file, prefix)
        try:
            yield Stack(directory, env_file, prefix, sandbox, worker)
        finally:
            worker.stop()
            asyncio.run(_delete_topology(prefix))
    finally:
        sandbox.stop()
