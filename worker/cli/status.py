"""``sipline status``: every line's current state, from the store's projection of the event log.

One table per portal, portals with out-of-sync lines first and the worst lines first in
each; ``--json`` prints one JSON document (``{"lines": [...], "portals": [...],
"last_sweep": ...}``) instead. Lines are printed as the store streams them, a couple of
thousand at a time, so 50,000 of them start to show at once and never sit in memory
together.
``--rebuild`` first forgets the projection and reads the event log again from its first
offset (the worker's own projector carries on from there).

Exit codes: 0 shown (also when nothing matches, and when the reader stopped reading, as
``sipline status | head`` does: the rest is not printed, quietly); 1 the store or the
broker could not be reached, or the event log is missing; 2 a bad option or bad settings
(one line on stderr).
"""

from __future__ import annotations

import atexit
import gc
import os
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from pydantic_core import to_json

from contracts.verdicts import Verdict
from worker.cli.common import env_file_option
from worker.cli.store import run_store_command, store_settings
from worker.errors import SiplineError
from worker.settings import Settings
from worker.status.query import Listing, Selection, StatusQuery
from worker.status.text import ending, portal_table
from worker.status.views import line_json, portal_json, reauthorization_text, sweep_json

VERDICTS = [v.value for v in Verdict]
# rows per read from the store: five round trips to the database's thread for 50,000
# lines rather than fifty; a batch of records is a few megabytes
LISTING_BATCH = 10_000
# lines of output gathered before a write (a terminal still sees the first at once)
WRITE_LINES = 2000


async def rebuild(settings: Settings) -> int:
    """Forget the projection and apply the whole event log again; events applied."""
    import aio_pika

    from worker.adapters.amqp.topology import Names
    from worker.adapters.store import open_store
    from worker.projection import Projector

    async with open_store(settings) as store:
        connection = await aio_pika.connect(settings.amqp_url.get_secret_value())
        async with connection:
            projector = Projector(
                store=store,
                connection=connection,
                stream=Names(settings.topology_prefix).events_log,
            )
            return await projector.rebuild()


async def show(
    settings: Settings, selection: Selection, *, json_out: bool, terminal: bool, width: int
) -> None:
    """Print the selected lines as the store streams them, a portal at a time."""
    from worker.adapters.store import open_reader

    async with (
        open_reader(settings) as store,
        StatusQuery(store=store).listing(selection, batch=LISTING_BATCH) as listing,
    ):
        if json_out:
            await _print_json(listing)
            return
        text: list[str] = [reauthorization_text(t) for t in listing.reauthorization]
        if text:
            text.append("")
        shown = False
        async for view in listing.portals():
            text += portal_table(view, first=not shown, terminal=terminal, width=width)
            shown = True
            if len(text) >= WRITE_LINES:
                _write(text)
        text += ending(listing.last_sweep, shown=shown)
        _write(text)


class OutputClosed(Exception):
    """Whoever reads the output stopped reading (``| head``). Not an ``OSError``, so that it
    passes through the unit of work, which reports those as the store's own failures."""


def _write(text: list[str]) -> None:
    """Print ``text`` (lines) in one write, and empty it: a write (or a click.echo) per
    portal cost more than laying the portal out."""
    _out("\n".join(text) + "\n")
    text.clear()


def _out(chunk: str) -> None:
    try:
        sys.stdout.write(chunk)
        sys.stdout.flush()
    except BrokenPipeError:
        raise OutputClosed from None


async def _print_json(listing: Listing) -> None:
    """One document, ``{"lines":[...],"portals":[...],"last_sweep":...}``, written as the
    lines arrive (the portals, those with selected lines, follow them).

    Encoded by pydantic-core's ``to_json`` (compact, UTF-8 as it is): three times as fast
    as ``json.dumps`` on 50,000 lines, which the document is written for."""
    out = _Output()
    out.write('{"lines":[')
    portals = []
    lines: list[dict[str, Any]] = []
    separator = ""
    async for view in listing.portals():
        portals.append(portal_json(view))
        lines += [line_json(line) for line in view.lines]
        if len(lines) >= WRITE_LINES:
            # many lines in one call, their brackets cut
            out.write(separator + to_json(lines).decode()[1:-1])
            separator, lines = ",", []
    if lines:
        out.write(separator + to_json(lines).decode()[1:-1])
    out.write('],"portals":')
    out.write(to_json(portals).decode())
    out.write(',"last_sweep":')
    out.write(to_json(sweep_json(listing.last_sweep)).decode())
    out.write("}\n")


class _Output:
    def write(self, chunk: str) -> None:
        _out(chunk)


@click.command()
@click.option("--portal", help="Only this portal's lines.")
@click.option(
    "--verdict",
    "verdicts",
    multiple=True,
    type=click.Choice(VERDICTS),
    help="Only lines whose last verdict is this (repeatable).",
)
@click.option("--out-of-sync", is_flag=True, help="Only lines whose last verdict is not in_sync.")
@click.option("--deleted", is_flag=True, help="Show deleted lines too (marked).")
@click.option("--json", "json_out", is_flag=True, help="One JSON document instead of tables.")
@click.option(
    "--rebuild",
    is_flag=True,
    help="First rebuild the projection from the event log's first offset.",
)
@env_file_option
def status(  # noqa: PLR0917 (click passes options by position)
    portal: str | None,
    verdicts: tuple[str, ...],
    out_of_sync: bool,
    deleted: bool,
    json_out: bool,
    rebuild: bool,
    env_file: Path | None,
) -> None:
    """Every line's current state: title, type, last verdict and since when, findings."""
    settings = store_settings(env_file)
    if rebuild:
        applied = run_store_command(lambda: _rebuild(settings))
        click.echo(f"projection rebuilt from the event log: {applied} events applied", err=True)
    selection = Selection(
        portal=portal,
        verdicts=frozenset(verdicts),
        out_of_sync=out_of_sync,
        include_deleted=deleted,
    )
    terminal = sys.stdout.isatty() and not json_out
    width = shutil.get_terminal_size((120, 40)).columns
    with _no_cycle_collection():
        try:
            run_store_command(
                lambda: show(settings, selection, json_out=json_out, terminal=terminal, width=width)
            )
        except OutputClosed:
            # the interpreter flushes stdout on its way out: point it at nothing first
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


@contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """The cyclic garbage collector off while the lines are read and printed.

    50,000 lines make some 340 collections of young objects that find no cycle (records are
    tuples of strings and times, freed by reference counting a portal at a time): a sixth
    of the command's CPU. The command is short-lived and holds one batch at a time, so
    nothing piles up meanwhile."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
        _exit_without_collection()


def _exit_without_collection() -> None:
    """At the interpreter's exit, freeze what is left (``gc.freeze``) so that its last
    collections skip it.

    An exiting interpreter collects cycles while it tears its modules down, whether or not
    the collector is enabled: after importing the store (SQLAlchemy, its dialect, the
    driver) that was a tenth of a second of ``sipline status``'s 1 s, finding nothing worth
    finalising (the store and its connections are closed by then). Registered once per
    process, and at exit only, so a process that invokes the command and carries on
    (tests) collects as before."""
    global _freeze_registered  # noqa: PLW0603 (once per process)
    if not _freeze_registered:
        atexit.register(gc.freeze)
        _freeze_registered = True


_freeze_registered = False


async def _rebuild(settings: Settings) -> int:
    from aiormq.exceptions import AMQPConnectionError

    try:
        return await rebuild(settings)
    except (AMQPConnectionError, OSError) as exc:
        raise SiplineError(
            f"cannot reach the broker: {type(exc).__name__}", code="BROKER_UNREACHABLE"
        ) from exc
