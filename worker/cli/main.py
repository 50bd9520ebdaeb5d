"""The ``sipline`` command: the only place that parses settings and configures output.

Subcommands are imported when invoked (click's lazy-group pattern), so ``sipline send`` does
not pay for the sandbox's imports and ``sipline --help`` stays fast.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import click

from worker.cli.common import configuration_errors, env_file_option

# name → (module, attribute, one-line help)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "run": ("worker.cli.run", "run", "Run the worker."),
    "demo": ("worker.cli.demo", "demo", "A guided tour against the built-in sandbox."),
    "send": ("worker.cli.send", "send", "Publish one command."),
    "sandbox": ("worker.cli.sandbox", "sandbox", "Serve the sandbox portal and account."),
    "sandbox-ctl": ("worker.cli.sandbox", "sandbox_ctl", "Steer a running sandbox."),
    "dlq": ("worker.cli.dlq", "dlq", "Inspect, replay and purge dead letters."),
    "events": ("worker.cli.events", "events", "Read the audit trail of events."),
    "fleet": ("worker.cli.fleet", "fleet", "Look at a fleet of workers."),
    "portals": (
        "worker.cli.portals",
        "portals",
        "The portal registry: add, list, show, set, remove.",
    ),
    "schema": ("worker.cli.schema", "schema", "Write or check the generated contract files."),
    "status": (
        "worker.cli.status",
        "status",
        "Every line's current state (the projection of the event log).",
    ),
    "store": (
        "worker.cli.store",
        "store",
        "Migrations, the encryption key, and where the store is.",
    ),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMANDS, *super().list_commands(ctx)})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in COMMANDS:
            module_name, attribute, _ = COMMANDS[cmd_name]
            command: Any = getattr(importlib.import_module(module_name), attribute)
            if not isinstance(command, click.Command):
                raise TypeError(f"{module_name}.{attribute} is not a click command")
            return command
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        # a ConfigurationError from any command (settings, a credentials file) is one line
        # on stderr and exit code 2, never a traceback
        with configuration_errors():
            return super().invoke(ctx)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][2]) for name in sorted(COMMANDS)]
        rows += [(name, cmd.get_short_help_str()) for name, cmd in sorted(self.commands.items())]
        with formatter.section("Commands"):
            formatter.write_dl(sorted(rows))


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="sipline", prog_name="sipline")
def main() -> None:
    """sipline: apply Bitrix24 line changes and cross-check them with Voximplant."""


@main.command()
@env_file_option
def config(env_file: Path | None) -> None:
    """Print the effective settings (secrets masked)."""
    from worker.cli.common import settings_or_exit

    settings = settings_or_exit(env_file)
    click.echo(settings.model_dump_json(indent=2))


if __name__ == "__main__":
    main()
