"""Helpers shared by the CLI commands.

Settings reach a command one way: :func:`settings_or_exit` (or :func:`load_settings` where a
command must handle the error itself). Every configuration problem becomes one line naming
the variable (``sipline: SIPLINE_PREFETCH: must be at least 1``) and exit code 2: no
traceback, never a value (it may be a secret). :func:`configuration_errors` does the same
for a :class:`~worker.errors.ConfigurationError` raised later, e.g. by an unreadable
credentials file; the ``sipline`` group wraps every command in it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click
from pydantic import ValidationError
from pydantic_core import ErrorDetails
from pydantic_settings import SettingsError

from worker.errors import ConfigurationError
from worker.settings import Settings, UnknownSettings, variable_names

F = TypeVar("F", bound=Callable[..., Any])


def env_file_option(func: F) -> F:
    """``--env-file PATH``: read settings from a dotenv file (environment variables win)."""
    return click.option(
        "--env-file",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        default=None,
        help="A dotenv file of SIPLINE_* settings, e.g. the one `sipline sandbox` writes.",
    )(func)


def load_settings(env_file: Path | None = None, **overrides: Any) -> Settings:
    """Parse the settings once, at the edge.

    Raises :class:`ConfigurationError` whose message is one line per problem, each naming
    the variable at fault; ``overrides`` are values a command's options give.
    """
    try:
        return Settings.from_environment(env_file, **overrides)
    except UnknownSettings as exc:
        raise ConfigurationError("\n".join(exc.problems)) from None
    except ValidationError as exc:
        errors = exc.errors(include_input=False, include_url=False, include_context=False)
        raise ConfigurationError("\n".join(_problem(err) for err in errors)) from None
    except SettingsError as exc:
        raise ConfigurationError(_source_problem(exc)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"--env-file {env_file}: cannot be read ({exc})") from None


def settings_or_exit(env_file: Path | None = None, **overrides: Any) -> Settings:
    """:func:`load_settings`, or the problems on stderr and exit code 2."""
    with configuration_errors():
        return load_settings(env_file, **overrides)


@contextmanager
def configuration_errors() -> Iterator[None]:
    """Turn a :class:`ConfigurationError` into its lines on stderr and exit code 2."""
    try:
        yield
    except ConfigurationError as exc:
        fail(str(exc))


def _variable(field: object) -> str:
    if isinstance(field, str) and field in Settings.model_fields:
        return variable_names(field)[0]
    return str(field)


def _problem(error: ErrorDetails) -> str:
    loc = error["loc"]
    name = _variable(loc[0]) if loc else "settings"
    rest = [str(part) for part in loc[1:]]
    if loc and loc[0] == "portals" and rest:
        # SIPLINE_PORTALS: portal "a.bitrix24.ru": oauth.rest_url: …
        name = f'{name}: portal "{rest[0]}"' + (f": {'.'.join(rest[1:])}" if rest[1:] else "")
    elif rest:
        name = f"{name}[{']['.join(rest)}]"
    message = error["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
    return f"{name}: {message}"


_SOURCE_FIELD = re.compile(r'field "([^"]+)"')


def _source_problem(exc: SettingsError) -> str:
    """pydantic-settings' "error parsing value for field …": a value that is not JSON."""
    found = _SOURCE_FIELD.search(str(exc))
    name = _variable(found.group(1)) if found else "a setting"
    cause = exc.__cause__
    if isinstance(cause, json.JSONDecodeError):
        # the position, never the document: the value may hold secrets
        return f"{name}: not valid JSON ({cause.msg} at line {cause.lineno} column {cause.colno})"
    return f"{name}: cannot be parsed ({type(cause).__name__ if cause else 'unknown error'})"


def secret_values(settings: Settings) -> list[str]:
    """Every secret the settings hold, for the log scrubber."""
    values: list[str] = []
    url = settings.amqp_url.get_secret_value()
    if "@" in url and ":" in url.split("@", 1)[0]:
        values.append(url.split("@", 1)[0].rsplit(":", 1)[1])
    for secret in (
        settings.voximplant_api_key,
        settings.voximplant_callback_salt,
        settings.app_client_secret,
    ):
        if secret is not None:
            values.append(secret.get_secret_value())
    for portal in settings.portals.values():
        if portal.webhook_url is not None:
            hook = portal.webhook_url.get_secret_value().rstrip("/")
            values.extend([hook, hook.rsplit("/", 1)[-1]])
        if portal.oauth is not None:
            for secret in (
                portal.oauth.client_secret,
                portal.oauth.access_token,
                portal.oauth.refresh_token,
            ):
                values.append(secret.get_secret_value())
    return [v for v in values if v]


def fail(message: str, code: int = 2) -> NoReturn:
    """Print an error (each of its lines prefixed) and exit; no traceback to decode."""
    for line in message.splitlines() or [""]:
        click.secho(f"sipline: {line}", fg="red", err=True)
    raise SystemExit(code)
