"""``dlq list`` output, written as the dead letters stream in (memory stays flat).

::

    table    rich tables for a terminal, a header every CHUNK rows
    blocks   one record per block of "field: value" lines: readable at 80 columns, in a pipe
    tsv      a header line, then one tab-separated line per record (cut, awk, a spreadsheet)
    json     a JSON array, one object per line

The default is ``table`` on a terminal and ``blocks`` otherwise: a table squeezed into the
80 columns of a pipe folds its type, portal and reason columns down to nothing.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Protocol, TextIO

from rich.console import Console

from worker.ops.dlq import render, views
from worker.ops.dlq.model import DeadLetter

CHUNK = 200
FORMATS = ("table", "blocks", "tsv", "json")
_FIELDS = (
    "id",
    "type",
    "portal",
    "reason",
    "attempts",
    "replays",
    "first_failure",
    "last_failure",
    "age",
)


class Layout(Protocol):
    def add(self, letter: DeadLetter) -> None: ...

    def close(self) -> None: ...


def _fields(letter: DeadLetter, now: datetime) -> dict[str, str]:
    values: dict[str, object] = {
        "id": letter.id,
        "type": letter.type,
        "portal": letter.portal,
        "reason": letter.reason,
        "attempts": letter.attempts,
        "replays": letter.replay_count,
        "first_failure": render.when(letter.first_failure),
        "last_failure": render.when(letter.last_failure),
        "age": render.duration(letter.age(now)),
    }
    return {k: "-" if v is None else _one_line(str(v)) for k, v in values.items()}


def _one_line(value: str) -> str:
    return value.replace("\t", " ").replace("\r", " ").replace("\n", " ")


class Blocks:
    def __init__(self, out: TextIO, now: datetime) -> None:
        self._out, self._now, self._first = out, now, True

    def add(self, letter: DeadLetter) -> None:
        fields = _fields(letter, self._now)
        width = max(len(name) for name in fields) + 1
        lines = [
            f"{name.replace('_', ' ') + ':':<{width + 1}}{value}" for name, value in fields.items()
        ]
        self._out.write(("" if self._first else "\n") + "\n".join(lines) + "\n")
        self._first = False

    def close(self) -> None:
        self._out.flush()


class Tsv:
    def __init__(self, out: TextIO, now: datetime) -> None:
        self._out, self._now = out, now
        out.write("\t".join(_FIELDS) + "\n")

    def add(self, letter: DeadLetter) -> None:
        self._out.write("\t".join(_fields(letter, self._now).values()) + "\n")

    def close(self) -> None:
        self._out.flush()


class JsonArray:
    def __init__(self, out: TextIO, now: datetime) -> None:
        self._out, self._now, self._count = out, now, 0
        out.write("[")

    def add(self, letter: DeadLetter) -> None:
        row = json.dumps(views.row(letter, self._now), ensure_ascii=False)
        self._out.write(("\n  " if self._count == 0 else ",\n  ") + row)
        self._count += 1

    def close(self) -> None:
        self._out.write("\n]\n" if self._count else "]\n")
        self._out.flush()


class TableChunks:
    def __init__(self, console: Console, now: datetime) -> None:
        self._console, self._now = console, now
        self._rows: list[DeadLetter] = []

    def add(self, letter: DeadLetter) -> None:
        self._rows.append(letter)
        if len(self._rows) >= CHUNK:
            self._flush()

    def _flush(self) -> None:
        if self._rows:
            self._console.print(render.letters_table(self._rows, self._now))
        self._rows = []

    def close(self) -> None:
        self._flush()


def layout(name: str, *, out: TextIO, console: Console, now: datetime) -> Layout:
    """The layout called ``name`` (one of :data:`FORMATS`)."""
    if name == "table":
        return TableChunks(console, now)
    if name == "tsv":
        return Tsv(out, now)
    if name == "json":
        return JsonArray(out, now)
    return Blocks(out, now)
