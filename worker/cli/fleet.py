"""``sipline fleet status``: the members of a fleet, the shards each holds, every queue's
depth. Exit 0 when every shard has an owner, 1 when some have none or the broker has no
fleet, 2 on bad settings."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aio_pika
import click

from worker.cli.common import env_file_option, fail, load_settings
from worker.errors import ConfigurationError
from worker.fleet.status import FleetStatus, NoFleet, read_status
from worker.fleet.topology import FleetNames


@click.group()
def fleet() -> None:
    """Look at a fleet of workers (SIPLINE_FLEET=true)."""


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
    try:
        settings = load_settings(env_file)
    except ConfigurationError as exc:
        fail(str(exc))

    async def main() -> FleetStatus:
        connection = await aio_pika.connect(settings.amqp_url.get_secret_value())
        try:
            return await read_status(
                connection, FleetNames(settings.topology_prefix), listen=listen
            )
        finally:
            await connection.close()

    try:
        found = asyncio.run(main())
    except NoFleet as exc:
        fail(str(exc), 1)
    except OSError as exc:
        fail(f"cannot reach the broker: {exc.strerror or exc}", 1)
    click.echo(_json(found) if as_json else _table(found))
    if found.orphaned or not found.members:
        raise SystemExit(1)


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
