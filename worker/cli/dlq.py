"""``sipline dlq``: list, show, replay, export, import and purge dead letters.

This module parses options and prints; the work is in :mod:`worker.ops.dlq`.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.progress import Progress

from worker.adapters.amqp import dead_letter_queue
from worker.adapters.amqp.topology import Names
from worker.cli.common import env_file_option, fail, secret_values, settings_or_exit
from worker.cli.params import PREFIX, FiniteFloat
from worker.observability import logs
from worker.ops.dlq import layouts, operations, render, transfer, views
from worker.ops.dlq.broker import DlqBroker, open_broker
from worker.ops.dlq.errors import DlqError
from worker.ops.dlq.filters import Filter, parse_duration
from worker.ops.dlq.migrate import migrate as migrate_dlq
from worker.ops.dlq.replay import DEFAULT_MAX_REPLAYS
from worker.ops.dlq.store import Held
from worker.ops.dlq.summary import Tally, summarize

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")
PROGRESS_THRESHOLD = 5


@dataclass(frozen=True, slots=True)
class Target:
    url: str
    names: Names


def _target(env_file: Path | None, prefix: str | None) -> Target:
    settings = settings_or_exit(env_file)
    logs.configure(level="WARNING", fmt="console", secrets=secret_values(settings))
    return Target(settings.amqp_url.get_secret_value(), Names(prefix or settings.topology_prefix))


def _run(
    target: Target, work: Callable[[DlqBroker], Awaitable[T]], *, check_protection: bool = True
) -> T:
    async def main() -> T:
        async with open_broker(
            target.url, target.names, check_protection=check_protection
        ) as broker:
            return await work(broker)

    try:
        return asyncio.run(main())
    except DlqError as exc:
        fail(str(exc), 1)


def connection_options(func: F) -> F:
    func = click.option(
        "--prefix",
        type=PREFIX,
        default=None,
        help="Topology prefix (default: the settings' topology_prefix).",
    )(func)
    return env_file_option(func)


def _duration(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def filter_options(func: F) -> F:
    """--reason, --type, --portal, --id (repeatable), --older-than, --newer-than, --text."""
    options = [
        click.option("--reason", "reasons", multiple=True, help="Dead-letter reason (exact)."),
        click.option("--type", "types", multiple=True, help="Command type, e.g. 'line.*'."),
        click.option("--portal", "portals", multiple=True, help="Portal domain or pattern."),
        click.option("--id", "ids", multiple=True, help="Command id (exact)."),
        click.option("--older-than", callback=_duration, help="Dead for at least (30m, 2h, 7d)."),
        click.option("--newer-than", callback=_duration, help="Dead for at most (30m, 2h, 7d)."),
        click.option("--text", default=None, help="Substring of the masked body or error."),
        click.option("--limit", type=click.IntRange(min=1), default=None, help="At most N."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _filter(kw: dict[str, Any]) -> Filter:
    return Filter(
        reasons=frozenset(kw.pop("reasons")),
        types=frozenset(kw.pop("types")),
        portals=frozenset(kw.pop("portals")),
        ids=frozenset(kw.pop("ids")),
        older_than=kw.pop("older_than"),
        newer_than=kw.pop("newer_than"),
        text=kw.pop("text"),
    )


def _progress(console: Console, label: str) -> operations.Progress:
    @contextmanager
    def factory(total: int) -> Iterator[Callable[[], None]]:
        if not console.is_terminal or total <= PROGRESS_THRESHOLD:
            yield lambda: None
            return
        with Progress(console=console, transient=True) as bar:
            task = bar.add_task(label, total=total)
            yield lambda: bar.advance(task)

    return factory


def _echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False))


@click.group()
def dlq() -> None:
    """Inspect, replay, export, import, purge and migrate dead letters (<prefix>.commands.dlq)."""


@dlq.command("list")
@connection_options
@filter_options
@click.option("--summary", is_flag=True, help="Counts grouped by reason and type.")
@click.option("--json", "as_json", is_flag=True, help="JSON output for scripts (= --format json).")
@click.option(
    "--format",
    "layout",
    type=click.Choice(["auto", *layouts.FORMATS]),
    default="auto",
    show_default=True,
    help="table on a terminal and blocks otherwise (auto), or tsv, or json.",
)
def list_(
    env_file: Path | None,
    prefix: str | None,
    summary: bool,
    as_json: bool,
    layout: str,
    **kw: Any,
) -> None:
    """List dead letters (secrets never shown); the DLQ is left unchanged.

    Rows are printed as they are read, so a long DLQ costs no more memory than a short one.
    """
    limit = kw.pop("limit")
    flt = _filter(kw)
    target = _target(env_file, prefix)
    now = datetime.now(UTC)
    if summary:
        tally = Tally()
        _run(target, lambda b: operations.each(b, flt, tally.add, limit=limit))
        if as_json or layout == "json":
            _echo_json([views.group(g) for g in tally.groups()])
        else:
            Console().print(render.summary_table(tally.groups()))
        return
    if as_json:
        layout = "json"
    elif layout == "auto":
        layout = "table" if sys.stdout.isatty() else "blocks"
    out = layouts.layout(layout, out=sys.stdout, console=Console(), now=now)
    count = _run(target, lambda b: operations.each(b, flt, out.add, limit=limit))
    out.close()
    if layout != "json":
        click.echo(f"{count} dead letter(s)", err=layout == "tsv")


@dlq.command()
@connection_options
@click.argument("letter_id", metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="JSON output for scripts.")
def show(env_file: Path | None, prefix: str | None, letter_id: str, as_json: bool) -> None:
    """Show one dead letter in full: body (passwords masked), headers, failure history."""
    target = _target(env_file, prefix)
    letter = _run(target, lambda b: operations.find(b, letter_id))
    if letter is None:
        fail(f"no dead letter with id {letter_id!r}", 1)
    now = datetime.now(UTC)
    if as_json:
        _echo_json(views.detail(letter, now))
    else:
        Console().print(render.detail(letter, now))


@dlq.command()
@connection_options
@filter_options
@click.option("--dry-run", is_flag=True, help="Show what would be replayed; change nothing.")
@click.option(
    "--max-replays",
    type=click.IntRange(min=1),
    default=DEFAULT_MAX_REPLAYS,
    show_default=True,
    help="Refuse messages already replayed this many times.",
)
@click.option(
    "--rate", type=FiniteFloat(0.01, 10_000, unit=" per second"), help="At most N per second."
)
def replay(
    env_file: Path | None,
    prefix: str | None,
    dry_run: bool,
    max_replays: int,
    rate: float | None,
    **kw: Any,
) -> None:
    """Put dead letters back on the command exchange with their original routing key.

    Each copy is confirmed by the broker before its dead letter is removed, and each replay
    is recorded as a command.replayed event. Exits 1 if the run stopped early.
    """
    limit = kw.pop("limit")
    flt = _filter(kw)
    target = _target(env_file, prefix)
    console = Console()
    report = _run(
        target,
        lambda b: operations.replay(
            b,
            flt,
            limit=limit,
            dry_run=dry_run,
            max_replays=max_replays,
            rate=rate,
            progress=_progress(console, "replaying"),
        ),
    )
    render.replay_report(console, report, datetime.now(UTC))
    if report.error:
        raise SystemExit(1)


@dlq.command("export")
@connection_options
@filter_options
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--mask-secrets", is_flag=True, help="Mask passwords (the file cannot be imported).")
@click.option("--remove", is_flag=True, help="Remove the exported dead letters once on disk.")
def export(
    env_file: Path | None,
    prefix: str | None,
    path: Path,
    mask_secrets: bool,
    remove: bool,
    **kw: Any,
) -> None:
    """Write dead letters to a new JSON Lines file (it holds passwords unless masked)."""
    limit = kw.pop("limit")
    flt = _filter(kw)
    target = _target(env_file, prefix)
    count = _run(
        target,
        lambda b: operations.export(b, flt, path, limit=limit, mask=mask_secrets, remove=remove),
    )
    click.echo(
        f"exported {count} dead letter(s) to {path}" + (" and removed them" if remove else "")
    )


@dlq.command("import")
@connection_options
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_(env_file: Path | None, prefix: str | None, path: Path) -> None:
    """Publish the dead letters of a JSON Lines export back into the DLQ (confirmed).

    Every line is read and checked before anything is published: a bad line (exit 2)
    imports nothing.
    """
    target = _target(env_file, prefix)
    try:
        records = transfer.read_import(path, exchange=target.names.dead_letter_exchange)
    except DlqError as exc:
        fail(f"nothing imported: {exc}")
    console = Console()
    report = _run(
        target,
        lambda b: operations.import_records(b, records, progress=_progress(console, "importing")),
    )
    click.echo(f"imported {report.imported} of {report.total} dead letter(s)")
    if report.error:
        fail(f"import stopped at {report.error}", 1)


def _confirmation(yes: bool) -> Callable[[list[Held]], bool]:
    def confirm(held: list[Held]) -> bool:
        if yes:
            return True
        console = Console()
        console.print(render.summary_table(summarize(h.letter for h in held)))
        expected = f"purge {len(held)}"
        typed = click.prompt(f"Type '{expected}' to delete these dead letters for good")
        return bool(typed.strip() == expected)

    return confirm


@dlq.command()
@connection_options
@filter_options
@click.option("--yes", is_flag=True, help="Do not ask for confirmation (required without a tty).")
def purge(env_file: Path | None, prefix: str | None, yes: bool, **kw: Any) -> None:
    """Delete the selected dead letters for good (export them first to keep a copy)."""
    limit = kw.pop("limit")
    flt = _filter(kw)
    if not yes and not sys.stdin.isatty():
        fail("refusing to purge without --yes: there is no terminal to confirm on", 2)
    target = _target(env_file, prefix)
    purged = _run(
        target, lambda b: operations.purge(b, flt, confirm=_confirmation(yes), limit=limit)
    )
    if purged is None:
        fail("not confirmed; nothing purged", 1)
    click.echo(f"purged {purged} dead letter(s)")


@dlq.command()
@connection_options
@click.option("--check", is_flag=True, help="Only say whether it is needed (exit 1 if so).")
def migrate(env_file: Path | None, prefix: str | None, check: bool) -> None:
    """Give a DLQ declared by an earlier version its own delivery limit.

    The queue is moved, not altered (see docs/operations.md): every dead letter is kept, and
    a run that stops part way is finished by running it again.
    """
    target = _target(env_file, prefix)
    name = target.names.dead_letter_queue
    if check:
        state = _run(
            target, lambda b: dead_letter_queue.probe(b.channel, name), check_protection=False
        )
        click.echo(f"{name}: {state.value}")
        if state is not dead_letter_queue.DlqState.PROTECTED:
            raise SystemExit(1)
        return
    report = _run(target, lambda b: migrate_dlq(b.channel, b.names), check_protection=False)
    if not report.changed:
        click.echo(f"{name} already has its own delivery limit; nothing to do")
        return
    click.echo(
        f"{name} migrated: {report.moved_out} dead letter(s) moved out, "
        f"{report.moved_back} moved back"
    )


__all__ = ["dlq"]
