"""Real processes, a TCP proxy that can be cut, and ports that misbehave, for the start-up
and shutdown tests."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Silent:
    """A port that accepts TCP and never says a word (an AMQP handshake waits for ever)."""

    port: int = 0
    accepted: int = 0
    _server: asyncio.Server | None = None
    _writers: list[asyncio.StreamWriter] = field(default_factory=list)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        self._writers.append(writer)


@asynccontextmanager
async def silent_port() -> AsyncIterator[Silent]:
    silent = Silent()
    server = await asyncio.start_server(silent._handle, "127.0.0.1", 0)
    silent.port = server.sockets[0].getsockname()[1]
    try:
        yield silent
    finally:
        server.close()
        for writer in silent._writers:
            writer.transport.abort()
        await server.wait_closed()


@dataclass
class Proxy:
    """Forwards a local port to the broker until :meth:`cut`, which drops every connection
    and refuses new ones: a broker outage, as the worker sees it. :meth:`hold` keeps the
    connections open but stops passing what the broker sends (a broker that goes silent:
    no confirm, no reply) until :meth:`resume`."""

    target: tuple[str, int] = ("127.0.0.1", 5672)
    port: int = 0
    _server: asyncio.Server | None = None
    _transports: list[asyncio.BaseTransport] = field(default_factory=list)
    _downstream: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self._downstream.set()

    def hold(self) -> None:
        self._downstream.clear()

    def resume(self) -> None:
        self._downstream.set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._transports += [writer.transport, up_writer.transport]
        await asyncio.gather(
            _pipe(reader, up_writer),
            _pipe(up_reader, writer, self._downstream),
            return_exceptions=True,
        )

    async def cut(self) -> None:
        assert self._server is not None
        self._server.close()
        for transport in self._transports:
            transport.abort()
        await self._server.wait_closed()


async def _pipe(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, gate: asyncio.Event | None = None
) -> None:
    try:
        while data := await reader.read(65536):
            if gate is not None:
                await gate.wait()
            writer.write(data)
            await writer.drain()
    finally:
        writer.transport.abort()


@asynccontextmanager
async def proxy() -> AsyncIterator[Proxy]:
    running = Proxy()
    await running.start()
    try:
        yield running
    finally:
        with contextlib.suppress(Exception):
            await running.cut()


def clean_env(**values: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.upper().startswith(("SIPLINE_", "VOXIMPLANT_"))
    }
    env.update({"SIPLINE_METRICS_PORT": "off", "SIPLINE_LOG_FORMAT": "json", **values})
    return env


@dataclass
class Process:
    """A child process whose stderr (and, when asked, stdout) is collected line by line."""

    process: asyncio.subprocess.Process
    lines: list[str] = field(default_factory=list)
    stdout_lines: list[str] = field(default_factory=list)
    _reader: asyncio.Task[None] | None = None

    async def _read(self) -> None:
        await asyncio.gather(
            _collect(self.process.stderr, self.lines),
            _collect(self.process.stdout, self.stdout_lines),
        )

    def output(self) -> str:
        return "".join(self.lines)

    def stdout(self) -> str:
        return "".join(self.stdout_lines)

    async def wait_for_line(self, text: str, limit: float = 30.0) -> None:
        deadline = time.monotonic() + limit
        while not any(text in line for line in self.lines):
            if self.process.returncode is not None:
                raise AssertionError(
                    f"exited {self.process.returncode} before {text!r}:\n" + self.output()[-3000:]
                )
            if time.monotonic() > deadline:
                raise AssertionError(f"no {text!r} in {limit:.0f} s:\n" + self.output()[-3000:])
            await asyncio.sleep(0.05)

    def signal(self, sig: signal.Signals) -> None:
        self.process.send_signal(sig)

    async def ends_within(self, limit: float) -> tuple[int, float]:
        """The exit code and how long it took; fails if still running after ``limit`` s."""
        started = time.monotonic()
        try:
            code = await asyncio.wait_for(self.process.wait(), timeout=limit)
        except TimeoutError:
            raise AssertionError(
                f"still running after {limit:.0f} s:\n" + self.output()[-3000:]
            ) from None
        if self._reader is not None:
            await asyncio.wait_for(self._reader, timeout=5)
        return code, time.monotonic() - started


async def _collect(stream: asyncio.StreamReader | None, into: list[str]) -> None:
    if stream is None:
        return
    while line := await stream.readline():
        into.append(line.decode(errors="replace"))


@asynccontextmanager
async def spawn(
    *args: str, env: dict[str, str], capture_stdout: bool = False
) -> AsyncIterator[Process]:
    """``args`` run by this interpreter; stderr collected, stdout too with
    ``capture_stdout`` (else discarded); killed if still running when the block ends."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *args,
        cwd=REPO,
        env=env,
        stderr=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE if capture_stdout else asyncio.subprocess.DEVNULL,
    )
    running = Process(process)
    running._reader = asyncio.create_task(running._read())
    try:
        yield running
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(running._reader, timeout=5)


def sipline(*args: str) -> tuple[str, ...]:
    return ("-m", "worker.cli.main", *args)
