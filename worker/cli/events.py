"""``sipline events``: read the audit trail (the event log stream) as a table or JSON Lines.

Without ``--follow`` the command prints what the stream held when it started (from
``--from``, ``first`` by default) and exits; with ``--follow`` it starts at ``next`` by
default and prints events as they are written until interrupted. How "caught up" is
decided is described in :mod:`worker.ops.events.reader`.
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import aio_pika
import click
from aiormq.exceptions import AMQPConnectionError
from rich.console import Console

from worker.adapters.amqp.topology import Names
from worker.cli.common import env_file_option, fail, settings_or_exit
from worker.cli.params import PREFIX
from worker.ops.events import (
    EventFilter,
    EventLogMissing,
    LoggedEvent,
    Start,
    StreamReader,
    parse_start,
    parse_time,
)
from worker.ops.events.render import TableRenderer, json_line
from worker.settings import Settings


@dataclass(frozen=True, slots=True)
class ReadRequest:
    """What to read and how to print it, as the options gave it."""

    start: Start
    follow: bool
    limit: int | None
    as_json: bool
    only: EventFilter


def _time(value: str | None, name: str, now: datetime) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_time(value, now=now)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=name) from None


def _start(value: str | None, follow: bool, now: datetime) -> Start:
    if value is None:
        return "next" if follow else "first"
    try:
        return parse_start(value, now=now)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--from") from None


async def read_events(settings: Settings, request: ReadRequest) -> int:
    """Print the matching events; returns how many were printed."""
    console = Console(soft_wrap=False, width=None if sys.stdout.isatty() else 200)
    table = TableRenderer(console=console)
    shown = 0
    connection = await aio_pika.connect(settings.amqp_url.get_secret_value())
    async with connection:
        reader = StreamReader(
            connection=connection,
            queue=Names(settings.topology_prefix).events_log,
            start=request.start,
            follow=request.follow,
        )
        async with reader:
            async for stored in reader:
                record = LoggedEvent.parse(stored.offset, stored.body)
                if record.document is None and request.only.active:
                    continue  # undecodable: nothing to filter on
                if not request.only.matches(record):
                    continue
                if request.as_json:
                    click.echo(json_line(record))
                else:
                    table.row(record)
                shown += 1
                if request.limit is not None and shown >= request.limit:
                    break
    return shown


@click.command()
@click.option(
    "--from",
    "from_",
    metavar="first|last|next|OFFSET|TIME|AGO",
    help="Where to start: first (default), last, next (default with -f), a stream offset, "
    "an ISO 8601 time (UTC if no zone) or a duration ago (15m, 2h, 7d).",
)
@click.option("--follow", "-f", is_flag=True, help="Keep printing new events until interrupted.")
@click.option("--limit", type=click.IntRange(min=1), help="Stop after N matching events.")
@click.option("--type", "types", multiple=True, help="Event type glob, e.g. 'line.*' (repeatable).")
@click.option("--portal", help="Only events of this portal (domain).")
@click.option("--line", type=int, help="Only events of this line (config id).")
@click.option(
    "--verdict", "verdicts", multiple=True, help="Only line.reconciled with this verdict."
)
@click.option("--correlation-id", help="Only events whose correlationid or causationid is this id.")
@click.option("--since", help="Only events at or after this time (ISO 8601 or 2h ago).")
@click.option("--until", help="Only events before this time (ISO 8601 or 2h ago).")
@click.option("--json", "as_json", is_flag=True, help="JSON Lines: the full event and its offset.")
@click.option("--prefix", type=PREFIX, help="Topology prefix (overrides SIPLINE_TOPOLOGY_PREFIX).")
@env_file_option
def events(
    *,
    from_: str | None,
    follow: bool,
    limit: int | None,
    types: tuple[str, ...],
    portal: str | None,
    line: int | None,
    verdicts: tuple[str, ...],
    correlation_id: str | None,
    since: str | None,
    until: str | None,
    as_json: bool,
    prefix: str | None,
    env_file: Path | None,
) -> None:
    """Read the audit trail: what happened to which line, and when.

    \b
    sipline events --portal example.bitrix24.ru --line 42
    sipline events --from 2h --type 'line.*' --verdict config_drift
    sipline events -f --json | jq .event.data
    """
    now = datetime.now(UTC)
    start = _start(from_, follow, now)
    since_time = _time(since, "--since", now)
    if isinstance(start, datetime):  # the broker positions by chunk: trim to the exact time
        since_time = start if since_time is None else max(since_time, start)
    only = EventFilter(
        types=types,
        portal=portal,
        line=line,
        verdicts=verdicts,
        correlation_id=correlation_id,
        since=since_time,
        until=_time(until, "--until", now),
    )
    settings = settings_or_exit(env_file, **({"topology_prefix": prefix} if prefix else {}))
    request = ReadRequest(start=start, follow=follow, limit=limit, as_json=as_json, only=only)
    try:
        shown = asyncio.run(read_events(settings, request))
    except EventLogMissing as exc:
        fail(f"{exc} (is --prefix right, and has the worker run?)")
    except (OSError, AMQPConnectionError) as exc:
        fail(f"cannot reach the broker: {exc}", code=1)
    except KeyboardInterrupt:
        raise SystemExit(130) from None
    if not as_json and not follow:
        click.echo(f"{shown} event(s)", err=True)
