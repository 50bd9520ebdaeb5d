"""``sipline fleet status``: the members of a fleet, the shards each holds, every queue's
depth. Exit 0 when every shard has an owner, 1 when some have none or the broker has no
fleet, 2 on bad settings. ``sipline fleet reshard``: change a stopped fleet's shard count,
moving every waiting copy to its new shard (exit 1 while a process still consumes)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import aio_pika
import click
from aio_pika.abc import AbstractConnection

from worker.cli.common import env_file_option, fail, load_settings
from worker.errors import ConfigurationError
from worker.fleet.reshard import reshard as move_shards
from worker.fleet.status import FleetStatus, NoFleet, read_status
from worker.fleet.topology import MAX_SHARDS, FleetNames, FleetRefused, FleetSpec
from worker.settings import Settings


@click.group()
def fleet() -> None:
    """Look at a fleet of workers (SIPLINE_FLEET=true), or change its shard count."""


@fleet.command()
@env_file_option
@click.option(
    "--listen",
    type=click.FloatRange(0.5, 60),
    default=3.0,
    show_default=True,
    help="Seconds to collect the members' beats (they beat every 2 s).",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON document instead of a table.")
def status(env_file: Path | None, listen: float, as_json: bool) -> None:
    """Members, the shards each holds, and the depth of every shard."""
    settings = _settings(env_file)
    found = _on_broker(
        settings, lambda c: read_status(c, FleetNames(settings.topology_prefix), listen=listen)
    )
    click.echo(_json(found) if as_json else _table(found))
    if found.orphaned or not found.members:
        raise SystemExit(1)


@fleet.command()
@env_file_option
@click.option(
    "--shards",
    type=click.IntRange(1, MAX_SHARDS),
    default=None,
    help="The new shard count (default: SIPLINE_SHARDS).",
)
def reshard(env_file: Path | None, shards: int | None) -> None:
    """Change the shard count of a stopped fleet in place (docs/operations.md)."""
    settings = _settings(env_file)
    spec = FleetSpec(
        names=FleetNames(settings.topology_prefix),
        shards=shards or settings.shards,
        delivery_limit=settings.delivery_limit,
    )
    done = _on_broker(
        settings, lambda c: move_shards(c, spec, max_body_bytes=settings.max_body_bytes)
    )
    click.echo(
        f"shards: {done.before} → {done.after}; {done.copies} waiting copies published again, "
        f"{done.moved} of them to another shard. Start the processes with "
        f"SIPLINE_SHARDS={done.after}."
    )


T = TypeVar("T")


def _settings(env_file: Path | None) -> Settings:
    try:
        return load_settings(env_file)
    except ConfigurationError as exc:
        fail(str(exc))


def _on_broker(settings: Settings, work: Callable[[AbstractConnection], Awaitable[T]]) -> T:
    """Run ``work`` on a connection of its own; no fleet, a refusal or no broker: exit 1."""

    async def main() -> T:
        connection = await aio_pika.connect(settings.amqp_url.get_secret_value())
        try:
            return await work(connection)
        finally:
            await connection.close()

    try:
        return asyncio.run(main())
    except (NoFleet, FleetRefused) as exc:
        fail(str(exc), 1)
    except OSError as exc:
        fail(f"cannot reach the broker: {exc.strerror or exc}", 1)


def _json(found: FleetStatus) -> str:
    return json.dumps(
        {
            "members": {m: list(held) for m, held in found.members.items()},
            "commands": _fields(found.commands),
            "shards": [{**_fields(q), "owner": found.owner(i)} for i, q in enumerate(found.shards)],
            "orphaned": found.orphaned,
        },
        indent=2,
    )


def _fields(queue: object) -> dict[str, object]:
    return {k: getattr(queue, k) for k in ("name", "messages", "active")}


def _table(found: FleetStatus) -> str:
    lines = [f"members: {len(found.members)}"]
    for member, held in found.members.items():
        lines.append(f"  {member}  shards {','.join(map(str, held)) or '-'}")
    c = found.commands
    router = "a router is active" if c.active else "NO ACTIVE ROUTER"
    lines.append(f"router input {c.name}: {c.messages} messages, {router}")
    lines.append("shard  messages  active  owner")
    for i, q in enumerate(found.shards):
        lines.append(f"{i:>5}  {q.messages:>8}  {q.active:>6}  {found.owner(i) or 'NONE'}")
    if found.orphaned:
        lines.append(f"shards without an owner: {found.orphaned}")
    return "\n".join(lines)
