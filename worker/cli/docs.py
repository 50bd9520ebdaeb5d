"""``docs/configuration.md``, rendered from :class:`worker.settings.Settings`.

Every field of the settings (and of the models nested in them, such as one portal's entry in
``SIPLINE_PORTALS``) gets a row, so a setting added to the class shows up on the next
``sipline schema`` and a stale document fails the tests.
"""

from __future__ import annotations

import json
import types
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import AnyUrl, BaseModel, SecretStr
from pydantic.fields import FieldInfo

from worker.settings import Settings, env_names

_SCALARS: dict[Any, str] = {
    str: "string",
    int: "integer",
    float: "number",
    bool: "boolean",
    Path: "path",
    SecretStr: "string (secret)",
}

_BOUNDS = (
    (annotated_types.Gt, "gt", ">"),
    (annotated_types.Ge, "ge", "≥"),
    (annotated_types.Lt, "lt", "<"),
    (annotated_types.Le, "le", "≤"),
)

_PORTALS_EXAMPLE = {
    "example.bitrix24.ru": {
        "webhook_url": "https://example.bitrix24.ru/rest/1/EXAMPLEwebhookcode/",
        "plan": "standard",
    },
    "shop.bitrix24.com": {
        "oauth": {
            "client_id": "local.EXAMPLE0000000001",
            "client_secret": "EXAMPLE-client-secret",
            "access_token": "EXAMPLE-access-token",
            "refresh_token": "EXAMPLE-refresh-token",
            "rest_url": "https://shop.bitrix24.com/rest/",
        },
        "plan": "enterprise",
    },
}


def _generic_name(origin: Any, args: tuple[Any, ...]) -> str | None:
    if origin is Annotated:
        return _type_name(args[0])
    if origin in (Union, types.UnionType):
        named = [_type_name(a) for a in args if a is not type(None)]
        return " or ".join(named) + (", optional" if type(None) in args else "")
    if origin is Literal:
        return "one of " + ", ".join(f"`{a}`" for a in args)
    if origin is list:
        return f"JSON list of {_type_name(args[0])}"
    if origin is dict:
        return f"JSON object of {_type_name(args[1])}"
    return None


def _type_name(annotation: Any) -> str:
    """How a setting's type reads to someone writing an environment variable."""
    generic = _generic_name(get_origin(annotation), get_args(annotation))
    if generic is not None:
        return generic
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return f"`{annotation.__name__}`"
    if isinstance(annotation, type) and issubclass(annotation, AnyUrl):
        return "URL"
    return _SCALARS.get(annotation, getattr(annotation, "__name__", str(annotation)))


def _bounds(field: FieldInfo) -> str:
    parts = [
        f"{symbol} {getattr(item, attr)}"
        for item in field.metadata
        for kind, attr, symbol in _BOUNDS
        if isinstance(item, kind)
    ]
    parts += [f"pattern `{item.pattern}`" for item in field.metadata if hasattr(item, "pattern")]
    return ", ".join(str(p) for p in parts if p)


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "required"
    value = field.get_default(call_default_factory=True)
    if value is None:
        return "unset"
    if isinstance(value, SecretStr):
        value = value.get_secret_value()  # a default in the source code is not a secret
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    if isinstance(value, (Path, AnyUrl)):
        value = str(value)
    return f"`{json.dumps(value, ensure_ascii=False)}`"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _row(first: str, field: FieldInfo) -> str:
    kind = _type_name(field.annotation)
    bounds = _bounds(field)
    if bounds:
        kind = f"{kind} ({bounds})"
    description = field.description or "(undocumented)"
    return f"| {first} | {_cell(kind)} | {_default(field)} | {_cell(description)} |"


def _nested_models(annotation: Any) -> list[type[BaseModel]]:
    """The models a field's type mentions, depth first, in order."""
    found: list[type[BaseModel]] = []
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        found.append(annotation)
        for field in annotation.model_fields.values():
            found += _nested_models(field.annotation)
    for arg in get_args(annotation):
        found += _nested_models(arg)
    return list(dict.fromkeys(found))


def settings_table(settings: type[BaseModel] = Settings) -> list[str]:
    """One row per setting: environment variable, type, default, description."""
    prefix = str(settings.model_config.get("env_prefix", ""))
    rows = ["| variable | type | default | description |", "| --- | --- | --- | --- |"]
    for name, field in settings.model_fields.items():
        env = " or ".join(f"`{n}`" for n in env_names(name, field, prefix))
        rows.append(_row(env, field))
    return rows


def model_table(model: type[BaseModel]) -> list[str]:
    """One row per key of a JSON object a setting holds."""
    rows = ["| key | type | default | description |", "| --- | --- | --- | --- |"]
    rows += [_row(f"`{name}`", field) for name, field in model.model_fields.items()]
    return rows


def _nested_sections(settings: type[BaseModel]) -> list[str]:
    lines: list[str] = []
    seen: list[type[BaseModel]] = []
    for field in settings.model_fields.values():
        seen += [m for m in _nested_models(field.annotation) if m not in seen]
    for model in seen:
        doc = " ".join((model.__doc__ or "").split())
        lines += ["", f"### `{model.__name__}`", "", doc, "", *model_table(model)]
    return lines


def configuration_markdown(settings: type[BaseModel] = Settings) -> str:
    """The whole of ``docs/configuration.md``."""
    portals = json.dumps(_PORTALS_EXAMPLE, indent=2)
    lines = [
        "# Configuration",
        "",
        "<!-- generated by `sipline schema` from worker/settings.py; do not edit -->",
        "",
        "sipline reads its settings once, at start-up, from environment variables and, when "
        "given `--env-file PATH`, from a dotenv file (environment variables win). Every "
        "variable has the prefix `SIPLINE_`; names are case-insensitive. Values that are lists "
        "or objects are JSON. `VOXIMPLANT_CREDENTIALS` is accepted as well as "
        "`SIPLINE_VOXIMPLANT_CREDENTIALS`, since the Voximplant API clients use that name. "
        "`sipline config` prints the effective settings with secrets masked.",
        "",
        "A `SIPLINE_*` name that is none of these (a typo such as `SIPLINE_PORTAL`) is refused "
        "with the closest real name, and every invalid value is reported as one line naming "
        "its variable; either way the command exits 2 before doing anything else (see "
        "[operations.md](operations.md#deploy)).",
        "",
        "## Settings",
        "",
        *settings_table(settings),
        "",
        "## Objects inside settings",
        "",
        "`SIPLINE_PORTALS` maps each portal's domain to how to reach it. A portal has exactly "
        "one of `webhook_url` (an inbound webhook) or `oauth` (an installed application).",
        *_nested_sections(settings),
        "",
        "## Example: one webhook portal and one OAuth portal",
        "",
        "```sh",
        f"SIPLINE_PORTALS='{json.dumps(_PORTALS_EXAMPLE, separators=(',', ':'))}'",
        "```",
        "",
        "The same value, readable:",
        "",
        "```json",
        portals,
        "```",
        "",
        *_CALLBACKS_SECTION,
    ]
    return "\n".join(lines)


_CALLBACKS_SECTION = [
    "## Voximplant callbacks",
    "",
    "With `SIPLINE_VOXIMPLANT_CALLBACK_SALT` and `SIPLINE_VOXIMPLANT_API_KEY` set, `sipline "
    "run` serves `POST /voximplant/callbacks` on its HTTP port (`SIPLINE_METRICS_HOST`:"
    "`SIPLINE_METRICS_PORT`): Voximplant's `sip_registration_fail` and "
    "`sip_registration_recovered` account callbacks each become a `line.reconcile` of the "
    "line that holds the registration, found through the store. Set the same salt on the "
    "account with `SetAccountInfo` (`callback_url` = that URL as Voximplant reaches it, "
    "`callback_salt`); the API key is the account's own (the control panel's API keys page, "
    "or `GetAccountInfo` with password authentication). The callbacks of other accounts "
    "than the one of `VOXIMPLANT_CREDENTIALS` are refused. Without both settings (or with "
    "the HTTP port off) the route answers 503 and the worker says so in one line at start. "
    "See [operations.md](operations.md#voximplant-callbacks).",
    "",
]
