"""``sipline demo``: start the sandbox and the worker, run the tour, print what happens."""

from __future__ import annotations

import asyncio
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import aio_pika
import click
from pydantic import SecretStr
from rich.console import Console
from rich.table import Table

from worker.cli.common import env_file_option, fail, settings_or_exit
from worker.demo.tour import PORTAL, Step, Tour, script
from worker.observability import logs

console = Console(highlight=False)
STYLE = {
    "in_sync": "green",
    "registration_failed": "red",
    "status_mismatch": "yellow",
    "config_drift": "magenta",
    "missing_registration": "red",
    "deactivated": "yellow",
    "pending_timeout": "yellow",
}


def _reconciled(data: dict[str, Any]) -> str:
    verdict = data.get("verdict", "?")
    checks = data.get("attempts", 0)
    text = f"[{STYLE.get(verdict, 'white')}]{verdict}[/] after {checks} check{'s' * (checks != 1)}"
    if checks > 1 and data.get("settle_seconds") is not None:
        text += f", settled in {data['settle_seconds']:.1f}s"
    findings = data.get("findings") or []
    return text + (f"\n{' ' * 38}[dim]{findings[0]}[/]" if findings else "")


def _swept(data: dict[str, Any]) -> str:
    verdicts = ", ".join(f"{k}={v}" for k, v in data.get("verdicts", {}).items())
    calls = sum(data.get("upstream_calls", {}).values())
    return f"{data.get('lines_checked')} lines ({verdicts}) in {calls} upstream requests"


def _created(data: dict[str, Any]) -> str:
    existed = " (already existed)" if data.get("already_existed") else ""
    return f"{data.get('title')!r} reg_id={data.get('reg_id')}{existed}"


def _deleted(data: dict[str, Any]) -> str:
    removed = "registration removed" if data.get("registration_removed") else "registration left"
    return ("already absent; " if data.get("already_absent") else "") + removed


def _problem(data: dict[str, Any]) -> str:
    return f"[red]{data.get('reason') or data.get('error_code')}[/]: {data.get('message')}"


DETAILS = {
    "line.reconciled": _reconciled,
    "line.created": _created,
    "line.updated": lambda d: f"changed {', '.join(d.get('changed_fields', []))}",
    "line.deleted": _deleted,
    "portal.swept": _swept,
    "command.rejected": _problem,
    "command.failed": _problem,
}


def _detail(event: dict[str, Any]) -> str:
    render = DETAILS.get(str(event.get("type")))
    return render(event.get("data") or {}) if render else ""


class Printer:
    def __init__(self) -> None:
        self.started = time.monotonic()

    def _clock(self) -> str:
        return f"[dim]{time.monotonic() - self.started:6.2f}s[/]"

    def command(self, step: Step, command_id: str) -> None:
        console.print()
        console.print(f"{self._clock()} [bold cyan]▶ {step.title}[/]  [dim]{command_id}[/]")

    def event(self, event: dict[str, Any]) -> None:
        subject = event.get("subject") or ""
        kind = event.get("type", "?")
        console.print(f"{self._clock()}   [bold]{kind:<17}[/] {subject:<10} {_detail(event)}")


def _summary(tour: Tour) -> Table:
    table = Table(title="Final verdict per line", title_style="bold")
    table.add_column("line")
    table.add_column("title")
    table.add_column("verdict")
    table.add_column("checks", justify="right")
    table.add_column("state")
    names = {v: k for k, v in tour.lines.items()}
    latest: dict[int, dict[str, Any]] = {}
    deleted: set[int] = set()
    for event in tour.events:
        if event.get("type") == "line.reconciled":
            latest[event["data"]["config_id"]] = event["data"]
        elif event.get("type") == "line.deleted":
            deleted.add(event["data"]["config_id"])
    for config_id, data in sorted(latest.items()):
        verdict = data["verdict"]
        table.add_row(
            str(config_id),
            names.get(config_id, "?"),
            f"[{STYLE.get(verdict, 'white')}]{verdict}[/]",
            str(data["attempts"]),
            "deleted" if config_id in deleted else "present",
        )
    return table


async def _tour(amqp_url: str, prefix: str, directory: Path) -> Tour:
    from worker.adapters.amqp.topology import delete_all
    from worker.bootstrap import application
    from worker.runtime.wiring import topology_spec
    from worker.sandbox.portal import PortalOptions
    from worker.sandbox.stack import Sandbox
    from worker.settings import Settings

    sandbox = Sandbox(
        directory=directory,
        portals=[PortalOptions(domain=PORTAL)],
        wait_seconds=0.5,
        progress_seconds=1.0,
    )
    printer = Printer()
    async with sandbox:
        settings = Settings(
            _env_file=None,
            amqp_url=SecretStr(amqp_url),
            topology_prefix=prefix,
            metrics_port=None,
            retry_delays=[1.0, 2.0],
            settle_intervals=[0.5, 1.0],
            settle_deadline=20.0,
            **sandbox.settings(),
        )
        spec = topology_spec(settings)
        connection = await aio_pika.connect_robust(amqp_url)
        try:
            async with application(settings) as app:
                runner = asyncio.create_task(app.worker.run())
                await asyncio.wait_for(app.worker.ready.wait(), timeout=20)
                channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
                events = await channel.get_exchange(spec.names.events_exchange)
                commands = await channel.get_exchange(spec.names.commands_exchange)
                tap = await channel.declare_queue(exclusive=True, auto_delete=True)
                await tap.bind(events, routing_key="#")
                tour = Tour(
                    sandbox=sandbox,
                    channel=channel,
                    exchange=commands,
                    on_command=printer.command,
                    on_event=printer.event,
                )
                await tour.tap(tap)
                try:
                    await tour.run(script())
                finally:
                    app.worker.stop()
                    await asyncio.wait_for(runner, timeout=30)
        finally:
            # a robust connection would re-declare what it consumed from: close it first
            await connection.close()
            cleaner = await aio_pika.connect(amqp_url)
            async with cleaner:
                await delete_all(await cleaner.channel(), spec)
    return tour


@click.command()
@env_file_option
@click.option("--keep-logs", is_flag=True, help="Show the worker's own log lines too.")
def demo(env_file: Path | None, keep_logs: bool) -> None:
    """A guided tour: the sandbox portal and account, the worker, and a scripted set of
    commands against the local RabbitMQ, printed as the events arrive."""
    settings = settings_or_exit(env_file)
    logs.configure(level="INFO" if keep_logs else "CRITICAL", fmt="console")
    prefix = f"sipline-demo-{uuid.uuid4().hex[:8]}"
    console.print(
        f"[bold]sipline demo[/]: sandbox portal [cyan]{PORTAL}[/], "
        f"RabbitMQ topology [cyan]{prefix}.*[/] (removed at the end)"
    )
    with tempfile.TemporaryDirectory(prefix="sipline-demo-") as directory:
        try:
            tour = asyncio.run(_tour(settings.amqp_url.get_secret_value(), prefix, Path(directory)))
        except TimeoutError:  # before OSError: TimeoutError is one
            fail("a step of the tour got no outcome in time", code=1)
        except OSError as exc:
            fail(f"cannot reach RabbitMQ ({exc.strerror or exc}); is it running?", code=1)
    console.print()
    console.print(_summary(tour))
    counts = Counter(e.get("type") for e in tour.events)
    console.print(
        "events: " + ", ".join(f"{k}={v}" for k, v in sorted(counts.items())),
        style="dim",
    )
