"""Helpers shared by the CLI commands."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click
from pydantic import ValidationError

from worker.errors import ConfigurationError
from worker.settings import Settings

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
    """Parse the settings once, at the edge; a bad value is a clear start-up error."""
    try:
        return Settings(_env_file=env_file, **overrides)
    except ValidationError as exc:
        lines = [
            f"  {'.'.join(str(p) for p in err['loc']) or '(settings)'}: {err['msg']}"
            for err in exc.errors(include_input=False, include_url=False)
        ]
        raise ConfigurationError("invalid settings:\n" + "\n".join(lines)) from None


def secret_values(settings: Settings) -> list[str]:
    """Every secret the settings hold, for the log scrubber."""
    values: list[str] = []
    url = settings.amqp_url.get_secret_value()
    if "@" in url and ":" in url.split("@", 1)[0]:
        values.append(url.split("@", 1)[0].rsplit(":", 1)[1])
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
    """Print a start-up error and exit; no traceback for an operator to decode."""
    click.secho(f"sipline: {message}", fg="red", err=True)
    raise SystemExit(code)
