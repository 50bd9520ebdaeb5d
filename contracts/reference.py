"""The generated parts of ``docs/contracts.md``: attribute and field tables, one example each.

The prose of the document is written by hand; between ``<!-- generated: NAME -->`` and
``<!-- end generated -->`` markers ``sipline schema`` puts what :func:`regions` renders from the
JSON Schemas, so the tables can never drift from the models. Pure: text in, text out.
"""

from __future__ import annotations

import json
import re
from typing import Any

from contracts.commands import COMMANDS
from contracts.envelope import Envelope
from contracts.events import EVENTS
from contracts.examples import COMMANDS as COMMAND_EXAMPLES
from contracts.examples import EVENTS as EVENT_EXAMPLES
from contracts.generate import (
    COMMANDS_EXCHANGE,
    EVENTS_EXCHANGE,
    Json,
    MessageModel,
    message_schema,
    schema_file_name,
)

_REGION = re.compile(
    r"(?P<open><!-- generated: (?P<name>[a-z-]+) -->\n).*?(?P<close><!-- end generated -->)",
    re.DOTALL,
)


def _ref_name(ref: str) -> str:
    return ref.rsplit("/", 1)[1]


def _non_null(node: Json) -> Json:
    """The one non-null branch of an optional field, merged with the field's own keywords."""
    branches = [b for b in node.get("anyOf", []) if b.get("type") != "null"]
    if len(branches) != 1:
        return node
    return {k: v for k, v in node.items() if k != "anyOf"} | {
        k: v for k, v in branches[0].items() if k not in node
    }


def _string_type(node: Json) -> str:
    if "format" in node:
        return f"string ({node['format']})"
    low, high = node.get("minLength"), node.get("maxLength")
    if high is not None:
        return f"string, {low or 0}–{high} chars"
    return "string"


def _number_type(node: Json) -> str:
    bounds = [
        f"{symbol} {node[key]}"
        for key, symbol in (("exclusiveMinimum", ">"), ("minimum", "≥"), ("maximum", "≤"))
        if key in node
    ]
    return " ".join([node["type"], *bounds])


def _map_type(node: Json) -> str:
    keys = node.get("propertyNames", {})
    key = _type_of(keys) if keys else "string"
    return f"map of {key} → {_type_of(node.get('additionalProperties', {}))}"


def _keyword_type(node: Json) -> str | None:
    if "$ref" in node:
        return f"`{_ref_name(node['$ref'])}`"
    if "const" in node:
        return f"`{node['const']}`"
    if "enum" in node:
        return "one of " + ", ".join(f"`{v}`" for v in node["enum"])
    if "anyOf" in node:
        return " or ".join(_type_of(b) for b in node["anyOf"] if b.get("type") != "null")
    return None


def _array_type(node: Json) -> str:
    return f"list of {_type_of(node.get('items', {}))}"


def _object_type(node: Json) -> str:
    return _map_type(node) if "additionalProperties" in node else "object"


_BY_KIND = {
    "string": _string_type,
    "integer": _number_type,
    "number": _number_type,
    "array": _array_type,
    "object": _object_type,
}


def _type_of(node: Json) -> str:
    """A short human reading of one JSON Schema node."""
    node = _non_null(node)
    keyword = _keyword_type(node)
    if keyword is not None:
        return keyword
    kind = str(node.get("type", "any"))
    render = _BY_KIND.get(kind)
    return kind if render is None else render(node)


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _field_table(schema: Json, skip: tuple[str, ...] = ()) -> list[str]:
    required = set(schema.get("required", []))
    rows = ["| field | type | required | description |", "| --- | --- | --- | --- |"]
    for name, node in schema.get("properties", {}).items():
        if name in skip:
            continue
        flat = _non_null(node)
        description = flat.get("description", "")
        if "default" in node and node["default"] is not None and name not in required:
            description += f" Default `{json.dumps(node['default'])}`."
        mark = "yes" if name in required else "no"
        rows.append(f"| `{name}` | {_type_of(node)} | {mark} | {_cell(description)} |")
    return rows


def _nested_names(schema: Json, defs: Json) -> list[str]:
    """Names of the object definitions reachable from ``schema``, depth first, once each."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and _ref_name(ref) not in found:
                found.append(_ref_name(ref))
                walk(defs[_ref_name(ref)])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    return found


def _inline_enums(node: Any, defs: Json) -> Any:
    """``node`` with references to enumerations replaced by the enumerations themselves."""
    if isinstance(node, list):
        return [_inline_enums(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str) and "enum" in defs.get(_ref_name(ref), {}):
        return defs[_ref_name(ref)] | {k: v for k, v in node.items() if k != "$ref"}
    return {key: _inline_enums(value, defs) for key, value in node.items()}


def envelope_table(model: MessageModel) -> str:
    """The CloudEvents attributes of a command or an event (everything but ``data``)."""
    schema = message_schema(model)
    family = COMMANDS if model.MESSAGE_TYPE in COMMANDS else EVENTS
    kind = schema["properties"]["type"]
    schema["properties"]["type"] = {
        "type": "string",
        "description": f"{kind.get('description', '')} One of "
        + ", ".join(f"`{t}`" for t in family)
        + ".",
    }
    return "\n".join(_field_table(schema, skip=("data",))) + "\n"


def _example_json(model: MessageModel) -> str:
    examples: dict[str, Envelope[Any]] = {**COMMAND_EXAMPLES, **EVENT_EXAMPLES}
    wire = json.loads(examples[model.MESSAGE_TYPE].wire_json())
    return json.dumps(wire, indent=2, ensure_ascii=False)


def message_section(model: MessageModel) -> str:
    """One message: where it goes, its ``data`` fields, nested objects, and an example."""
    schema = message_schema(model)
    defs: Json = schema.get("$defs", {})
    exchange = COMMANDS_EXCHANGE if model.MESSAGE_TYPE in COMMANDS else EVENTS_EXCHANGE
    data = _inline_enums(defs[_ref_name(schema["properties"]["data"]["$ref"])], defs)
    lines = [
        f"### `{model.MESSAGE_TYPE}`",
        "",
        _cell(schema["description"]),
        "",
        f"Exchange `{exchange}`, routing key `{model.MESSAGE_TYPE}`, dataschema "
        f"`{schema['$id']}`, JSON Schema "
        f"[`{schema_file_name(model)}`](../contracts/schemas/{schema_file_name(model)}).",
        "",
    ]
    if data.get("properties"):
        lines += [f"`data`: {_cell(data.get('description', ''))}", ""]
        lines += _field_table(data)
    else:
        lines += [f"`data` is an empty object: {_cell(data.get('description', ''))}"]
    for name in _nested_names(data, defs):
        nested = _inline_enums(defs[name], defs)
        if nested.get("type") != "object":
            continue
        lines += ["", f"`{name}`: {_cell(nested.get('description', ''))}", ""]
        lines += _field_table(nested)
    lines += ["", "Example:", "", "```json", _example_json(model), "```", ""]
    return "\n".join(lines)


def regions() -> dict[str, str]:
    """The rendered body of every generated region of ``docs/contracts.md``."""
    any_command = next(iter(COMMANDS.values()))
    any_event = next(iter(EVENTS.values()))
    return {
        "command-envelope": envelope_table(any_command),
        "event-envelope": envelope_table(any_event),
        "commands": "\n".join(message_section(m) for m in COMMANDS.values()),
        "events": "\n".join(message_section(m) for m in EVENTS.values()),
    }


def fill_regions(text: str, bodies: dict[str, str]) -> str:
    """``text`` with every generated region's body replaced; an unknown region is an error."""

    def replace(match: re.Match[str]) -> str:
        name = match["name"]
        if name not in bodies:
            raise ValueError(f"docs/contracts.md has an unknown generated region {name!r}")
        return f"{match['open']}\n{bodies[name]}\n{match['close']}"

    return _REGION.sub(replace, text)
