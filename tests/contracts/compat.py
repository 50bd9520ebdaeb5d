"""The wire contract's shape, flattened, and the rules that say which changes break it.

A message's shape maps each field path (``data.bitrix24.status_code``, ``data.errors[].field``)
to whether it is required. The frozen shapes, with each message's kind, live in
``snapshots/wire.json`` keyed by schema file name, so a new major version (a new file) is a new
entry and the old one stays guarded.

Add the shapes of new message schemas (never rewrites an existing entry)::

    .venv/bin/python -m tests.contracts.compat --add-new
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_DIR = ROOT / "contracts" / "schemas"
SNAPSHOT = Path(__file__).resolve().parent / "snapshots" / "wire.json"

Shape = dict[str, bool]
Snapshot = dict[str, dict[str, Any]]  # file name -> {"kind": ..., "fields": Shape}


def shape(schema: dict[str, Any]) -> Shape:
    """Every field path of a message schema, and whether it is required."""
    defs = schema.get("$defs", {})
    found: Shape = {}

    def walk(node: dict[str, Any], prefix: str) -> None:
        while "$ref" in node:
            node = defs[node["$ref"].rsplit("/", 1)[1]]
        for branch in node.get("anyOf", []):
            walk(branch, prefix)
        if isinstance(node.get("items"), dict):
            walk(node["items"], f"{prefix}[]")
        if isinstance(node.get("additionalProperties"), dict):
            walk(node["additionalProperties"], f"{prefix}{{}}")
        required = set(node.get("required", []))
        for name, sub in node.get("properties", {}).items():
            path = f"{prefix}.{name}" if prefix else name
            found[path] = name in required
            walk(sub, path)

    walk(schema, "")
    return found


NEWER = "added_in_a_later_minor"
"""A field no version of the contract has: what a later minor version might add."""


def widened(schema: dict[str, Any], document: Any) -> Any:
    """A copy of a message's JSON with :data:`NEWER` added to ``data`` and to every object
    inside it (never to a map such as ``verdicts``), as a later minor version might send it."""
    defs = schema.get("$defs", {})

    def walk(node: dict[str, Any], value: Any) -> Any:
        while "$ref" in node:
            node = defs[node["$ref"].rsplit("/", 1)[1]]
        for branch in node.get("anyOf", []):
            if branch.get("type") != "null":
                return walk(branch, value)
        if isinstance(value, list) and isinstance(node.get("items"), dict):
            return [walk(node["items"], item) for item in value]
        if isinstance(value, dict) and "properties" in node:
            known = node["properties"]
            inner = {k: walk(known[k], v) if k in known else v for k, v in value.items()}
            return inner | {NEWER: {"note": "from a later minor version", "n": 1}}
        return value

    return document | {"data": walk(schema["properties"]["data"], document["data"])}


def kind(schema: dict[str, Any]) -> str:
    """``command`` or ``event``, from the schema's own ``type`` constant."""
    from contracts import COMMANDS

    return "command" if schema["properties"]["type"]["const"] in COMMANDS else "event"


def breaking_changes(name: str, frozen: Shape, current: Shape, *, command: bool) -> list[str]:
    """What about ``current`` breaks someone relying on ``frozen``.

    Commands: publishers send the frozen shape, so a field may not become required, and since
    ``data`` refuses unknown fields, no field may disappear. Events: consumers read the frozen
    shape, so no field may disappear nor stop being always present; a new field is fine, since
    they ignore what they do not know (:func:`unknown_fields_admitted`).
    """
    problems = [f"{name}: field {path!r} was removed" for path in frozen if path not in current]
    if command:
        problems += [
            f"{name}: field {path!r} is now required"
            for path, required in current.items()
            if required and not frozen.get(path, False)
        ]
    else:
        problems += [
            f"{name}: field {path!r} is no longer required"
            for path, required in frozen.items()
            if required and current.get(path) is False
        ]
    return problems


def unknown_fields_admitted(schema: dict[str, Any]) -> dict[str, bool]:
    """Each object schema of a message's ``data`` (by name), and whether it admits a field it
    does not declare. Commands must refuse them; events must admit them, or a consumer
    validating against this schema refuses every event of a later minor version."""
    return {
        name: node.get("additionalProperties", True) is not False
        for name, node in schema.get("$defs", {}).items()
        if "properties" in node
    }


def checked_in() -> dict[str, dict[str, Any]]:
    """The checked-in schemas by file name."""
    return {p.name: json.loads(p.read_text()) for p in sorted(SCHEMA_DIR.glob("*.json"))}


def load_snapshot() -> Snapshot:
    data: Snapshot = json.loads(SNAPSHOT.read_text())
    return data


def add_new() -> list[str]:
    """Snapshot the schemas that have no entry yet; existing entries are left alone."""
    snapshot = load_snapshot() if SNAPSHOT.exists() else {}
    added = [name for name in checked_in() if name not in snapshot]
    for name in added:
        schema = checked_in()[name]
        snapshot[name] = {"kind": kind(schema), "fields": shape(schema)}
    SNAPSHOT.write_text(json.dumps(snapshot, indent=2, sort_keys=True) + "\n")
    return added


if __name__ == "__main__":
    if sys.argv[1:] != ["--add-new"]:
        sys.exit(__doc__)
    for name in add_new():
        print(f"snapshotted {name}")
