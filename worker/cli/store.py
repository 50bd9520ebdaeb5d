"""``sipline store``: migrations, the encryption key, and where the store is.

Exit codes: 0 done; 1 the database could not be reached (or refused the request);
2 the settings, the key or the schema stop the store from opening (one line on stderr).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import click

from worker.cli.common import env_file_option, fail, load_settings, secret_values
from worker.errors import ConfigurationError, SiplineError
from worker.observability import logs
from worker.settings import Settings

T = TypeVar("T")


def store_secrets(settings: Settings) -> list[str]:
    """The store's own secrets (key list, URL password), for the log scrubber."""
    values: list[str] = []
    if settings.store_key is not None:
        values.extend(k.strip() for k in settings.store_key.get_secret_value().split(","))
    if settings.store_url is not None:
        from worker.adapters.store import resolve

        password = resolve(settings).url.password
        if password:
            values.append(str(password))
    return [v for v in values if v]


def store_settings(env_file: Path | None) -> Settings:
    """Settings for a store command; logging quiet and scrubbed."""
    try:
        settings = load_settings(env_file)
        secrets = [*secret_values(settings), *store_secrets(settings)]
    except ConfigurationError as exc:
        fail(str(exc))
    logs.configure(level="WARNING", fmt="console", secrets=secrets)
    return settings


def run_store_command(work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run one command's coroutine; turn the store's errors into one line and an exit code."""
    try:
        return asyncio.run(work())
    except ConfigurationError as exc:
        fail(str(exc), 2)
    except SiplineError as exc:
        fail(str(exc), 1)


@click.group()
def store() -> None:
    """Migrations, the encryption key, and where the store is."""


@store.command()
@env_file_option
def upgrade(env_file: Path | None) -> None:
    """Apply pending migrations (safe while other processes start or run)."""
    from worker.adapters.store import resolve
    from worker.adapters.store import upgrade as upgrade_store

    settings = store_settings(env_file)

    async def work() -> tuple[str | None, str | None]:
        return await upgrade_store(settings)

    before, after = run_store_command(work)
    where = resolve(settings).display
    if before == after:
        click.echo(f"store {where}: schema at revision {after}, nothing to do")
    else:
        click.echo(f"store {where}: schema upgraded from {before or 'empty'} to {after}")


@store.command()
@env_file_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object instead of text.")
def info(env_file: Path | None, as_json: bool) -> None:
    """Where the store is, its schema revision, and how many portals and lines it holds."""
    from worker.adapters.store import inspect_schema, open_store, resolve

    settings = store_settings(env_file)

    async def work() -> dict[str, object]:
        location = resolve(settings)
        schema = await inspect_schema(settings, location=location)
        facts: dict[str, object] = {
            "store": location.display,
            "revision": schema.current,
            "head": schema.head,
        }
        if schema.status != "current":
            return facts | {"hint": "run `sipline store upgrade`"}
        async with open_store(settings, location=location, auto_upgrade=False) as opened:
            async with opened.unit_of_work(readonly=True) as uow:
                portals = len(await uow.portals.list())
                lines = sum((await uow.lines.counts()).values())
            return facts | {"encrypted": opened.cipher.has_key, "portals": portals, "lines": lines}

    facts = run_store_command(work)
    if as_json:
        click.echo(json.dumps(facts))
        return
    for name, value in facts.items():
        click.echo(f"{name:10} {value}")


@store.command("generate-key")
def generate_key() -> None:
    """Print a new random key for SIPLINE_STORE_KEY (keep it as you keep the data)."""
    from worker.adapters.store import generate_key as new_key

    click.echo(new_key())


@store.command("rotate-key")
@env_file_option
def rotate_key(env_file: Path | None) -> None:
    """Re-encrypt every secret under the first key of SIPLINE_STORE_KEY, in one transaction.

    Set SIPLINE_STORE_KEY=NEW,OLD, run this, then set SIPLINE_STORE_KEY=NEW.
    """
    from worker.adapters.store import open_store

    settings = store_settings(env_file)

    async def work() -> int:
        async with open_store(settings) as opened:
            return await opened.rotate_key()

    count = run_store_command(work)
    click.echo(
        f"re-encrypted {count} secret value(s) under the first key; "
        "the other keys can now be removed from SIPLINE_STORE_KEY"
    )


@store.command()
@env_file_option
@click.option(
    "--older-than",
    "days",
    type=click.IntRange(min=1),
    default=30,
    show_default=True,
    help="Days of applied event ids and callback ids to keep.",
)
def prune(env_file: Path | None, days: int) -> None:
    """Forget de-duplication keys older than N days (they only ever grow otherwise)."""
    from datetime import UTC, datetime, timedelta

    from worker.adapters.store import open_store

    settings = store_settings(env_file)
    before = datetime.now(UTC) - timedelta(days=days)

    async def work() -> dict[str, int]:
        async with open_store(settings) as opened:
            return await opened.prune(before=before)

    counts = run_store_command(work)
    click.echo(f"pruned {counts['events']} event id(s) and {counts['callbacks']} callback id(s)")
