"""The ``sipline`` command: the only place that parses settings and configures output."""

from __future__ import annotations

from pathlib import Path

import click

from worker import __version__
from worker.cli.common import env_file_option
from worker.cli.schema import schema


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="sipline")
def main() -> None:
    """sipline: apply Bitrix24 line changes and cross-check them with Voximplant."""


@main.command()
@env_file_option
def config(env_file: Path | None) -> None:
    """Print the effective settings (secrets masked)."""
    from worker.cli.common import load_settings

    settings = load_settings(env_file)
    click.echo(settings.model_dump_json(indent=2))


main.add_command(schema)
