"""``sipline send``: publish one command by hand, and optionally wait for what it causes.

A command is built from the arguments (``sipline send line.create …``) or read from a JSON
file (``sipline send --file cmd.json``: a whole CloudEvents envelope, or just ``type``,
``portal`` and ``data``). Missing envelope attributes are filled in, the result is validated
with the contract models, and it is published with confirms and ``mandatory`` to
``<prefix>.commands`` (:mod:`worker.cli.publish`).

A password is never an argument's value, where shell history and ``ps`` would keep it: it is
read from stdin (``--password-stdin``), from a named environment variable
(``--password-env VAR``), or from a hidden prompt when stdin is a terminal.

Exit codes: 0 published (with ``--wait``: a terminal event arrived); 1 the broker refused or
no terminal event came in time; 2 invalid input.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any, TypeVar

import click
from pydantic import ValidationError

from contracts import COMMANDS, Command
from contracts.envelope import SPEC_VERSION, now_utc
from worker.cli.common import fail, secret_values, settings_or_exit
from worker.cli.params import PREFIX, FiniteFloat
from worker.observability import logs
from worker.settings import Settings

__all__ = ["SOURCE", "build_command", "complete", "send"]

F = TypeVar("F", bound=Callable[..., Any])

SOURCE = "urn:sipline:cli"
DEFAULT_TIMEOUT = 150.0  # the worker's default settle deadline is 120 s
_META = "sipline.send"


@dataclass(frozen=True, slots=True)
class Delivery:
    """How to publish: the options shared by ``send`` and each of its sub-commands."""

    env_file: Path | None = None
    prefix: str | None = None
    correlation_id: str | None = None
    command_id: str | None = None
    wait: bool = False
    timeout: float | None = None

    def over(self, base: Delivery) -> Delivery:
        """These options, falling back to ``base`` (the group's) where not given."""
        return Delivery(
            env_file=self.env_file or base.env_file,
            prefix=self.prefix or base.prefix,
            correlation_id=self.correlation_id or base.correlation_id,
            command_id=self.command_id or base.command_id,
            wait=self.wait or base.wait,
            timeout=self.timeout if self.timeout is not None else base.timeout,
        )


def delivery_options(func: F) -> F:
    """The options every form of ``sipline send`` takes."""
    options = [
        click.option(
            "--env-file",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            help="A dotenv file of SIPLINE_* settings (broker URL, prefix, portals).",
        ),
        click.option(
            "--prefix", type=PREFIX, help="Topology prefix (default: SIPLINE_TOPOLOGY_PREFIX)."
        ),
        click.option("--correlation-id", help="The business operation this command belongs to."),
        click.option("--id", "command_id", help="The command id (default: a new UUID)."),
        click.option(
            "--wait", is_flag=True, help="Print the events the command causes until a final one."
        ),
        click.option(
            "--timeout",
            type=FiniteFloat(0.1, 86_400, unit=" seconds"),
            help=f"Seconds --wait waits (default {DEFAULT_TIMEOUT:g}).",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


# --- building a command ---------------------------------------------------------------
def complete(raw: dict[str, Any], delivery: Delivery) -> dict[str, Any]:
    """Fill in the envelope attributes a hand-written command leaves out."""
    body = dict(raw)
    body.setdefault("specversion", SPEC_VERSION)
    if delivery.command_id:
        body["id"] = delivery.command_id
    body.setdefault("id", str(uuid.uuid4()))
    body.setdefault("source", SOURCE)
    body.setdefault("time", now_utc().isoformat())
    if delivery.correlation_id:
        body["correlationid"] = delivery.correlation_id
    return body


def build_command(body: dict[str, Any]) -> Command:
    """Validate with the contract model of ``body["type"]``; exit 2 with field errors."""
    kind = body.get("type")
    model = COMMANDS.get(kind) if isinstance(kind, str) else None
    if model is None:
        fail(f"unknown command type {kind!r}; known: {', '.join(sorted(COMMANDS))}")
    try:
        return model.model_validate_json(json.dumps(body))  # commands are strict JSON
    except ValidationError as exc:
        lines = [
            f"  {'.'.join(str(p) for p in err['loc']) or '(command)'}: {err['msg']}"
            for err in exc.errors(include_input=False, include_url=False, include_context=False)
        ]
        fail(f"invalid {kind} command:\n" + "\n".join(lines))


def read_password(*, from_stdin: bool, env_var: str | None, required: bool) -> str | None:
    """The SIP password from stdin, an environment variable or a hidden prompt."""
    if from_stdin and env_var:
        raise click.UsageError("use one of --password-stdin and --password-env")
    if env_var:
        value = os.environ.get(env_var)
        if value is None:
            fail(f"--password-env: the variable {env_var} is not set")
        return value
    stdin = sys.stdin
    if (from_stdin or required) and stdin.isatty():
        return str(click.prompt("SIP password", hide_input=True, err=True))
    if from_stdin:
        value = stdin.read().removesuffix("\n").removesuffix("\r")
        if not value:
            fail("--password-stdin: nothing on stdin")
        return value
    if required:
        fail("a password is required: --password-stdin or --password-env VAR")
    return None


def password_options(func: F) -> F:
    func = click.option(
        "--password-env",
        metavar="VAR",
        help="Read the SIP password from this environment variable.",
    )(func)
    return click.option("--password-stdin", is_flag=True, help="Read the SIP password from stdin.")(
        func
    )


# --- publishing --------------------------------------------------------------------------
def _settings(env_file: Path | None) -> Settings:
    return settings_or_exit(env_file)


def _portal(portal: str | None, settings: Settings) -> str:
    if portal:
        return portal
    if len(settings.portals) != 1:
        fail(f"--portal is required (the settings name {len(settings.portals)} portals)")
    return next(iter(settings.portals))


def dispatch(ctx: click.Context, raw: dict[str, Any], given: Delivery) -> None:
    """Complete, validate, publish; with ``--wait``, print events until a final one."""
    from worker.cli.publish import publish

    delivery = given.over(ctx.meta.get(_META, Delivery()))
    settings = _settings(delivery.env_file)
    if "portal" in raw and raw["portal"] is None:
        raw = {**raw, "portal": _portal(None, settings)}
    command = build_command(complete(raw, delivery))
    password = getattr(command.data, "password", None)
    extra = [password.get_secret_value()] if password is not None else []
    logs.configure(level="WARNING", fmt="console", secrets=secret_values(settings) + extra)
    code = publish(
        settings,
        command,
        prefix=delivery.prefix or settings.topology_prefix,
        wait=delivery.wait,
        timeout=delivery.timeout or DEFAULT_TIMEOUT,
    )
    ctx.exit(code)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


# --- the commands ----------------------------------------------------------------------------
@click.group(invoke_without_command=True, subcommand_metavar="TYPE [ARGS]...")
@click.option(
    "--file",
    "file",
    type=click.File("r", encoding="utf-8"),
    help="A JSON command: a whole envelope, or type, portal and data ('-' for stdin).",
)
@delivery_options
@click.pass_context
def send(ctx: click.Context, /, *, file: IO[str] | None, **options: Any) -> None:
    """Publish one command, built from arguments or read from a JSON file.

    \b
      sipline send line.create --portal P --title T --server S --login L --password-stdin
      sipline send line.reconcile --config-id 42 --wait
      sipline send --file cmd.json --wait
    """
    group = Delivery(**options)
    ctx.meta[_META] = group
    if ctx.invoked_subcommand is not None:
        if file is not None:
            raise click.UsageError("--file replaces the command type; give one or the other")
        return
    if file is None:
        click.echo(ctx.get_help(), err=True)
        ctx.exit(2)
    try:
        raw = json.load(file, parse_constant=_no_constant)
    except UnicodeDecodeError:
        fail(f"{file.name} is not UTF-8 text (a JSON command is)")
    except RecursionError:
        fail(f"{file.name} is nested too deeply to be a command")
    except (json.JSONDecodeError, ValueError) as exc:
        fail(f"{file.name} is not JSON: {exc}")
    if not isinstance(raw, dict):
        fail(f"{file.name} must hold a JSON object")
    dispatch(ctx, raw, replace(group))


@send.command("line.create")
@click.option("--portal", help="The portal's domain (default: the only one in the settings).")
@click.option("--title", required=True)
@click.option("--server", required=True, help="SIP server (registrar), host[:port].")
@click.option("--login", required=True, help="SIP login.")
@password_options
@click.option("--type", "line_type", type=click.Choice(["cloud", "office"]), default="cloud")
@delivery_options
@click.pass_context
def line_create(
    ctx: click.Context,
    /,
    *,
    portal: str | None,
    title: str,
    server: str,
    login: str,
    password_stdin: bool,
    password_env: str | None,
    line_type: str,
    **options: Any,
) -> None:
    """Create a SIP line."""
    password = read_password(from_stdin=password_stdin, env_var=password_env, required=True)
    data = {
        "title": title,
        "server": server,
        "login": login,
        "password": password,
        "line_type": line_type,
    }
    dispatch(ctx, {"type": "line.create", "portal": portal, "data": data}, Delivery(**options))


@send.command("line.update")
@click.option("--portal", help="The portal's domain (default: the only one in the settings).")
@click.option("--config-id", type=int, required=True)
@click.option("--title")
@click.option("--server")
@click.option("--login")
@password_options
@delivery_options
@click.pass_context
def line_update(
    ctx: click.Context,
    /,
    *,
    portal: str | None,
    config_id: int,
    title: str | None,
    server: str | None,
    login: str | None,
    password_stdin: bool,
    password_env: str | None,
    **options: Any,
) -> None:
    """Change a line's title, server, login or password."""
    password = read_password(from_stdin=password_stdin, env_var=password_env, required=False)
    changes = {"title": title, "server": server, "login": login, "password": password}
    data = {"config_id": config_id, **{k: v for k, v in changes.items() if v is not None}}
    dispatch(ctx, {"type": "line.update", "portal": portal, "data": data}, Delivery(**options))


def _line_ref(kind: str, doc: str) -> click.Command:
    @click.option("--portal", help="The portal's domain (default: the only one in the settings).")
    @click.option("--config-id", type=int, required=True)
    @delivery_options
    @click.pass_context
    def command(
        ctx: click.Context, /, *, portal: str | None, config_id: int, **options: Any
    ) -> None:
        data = {"config_id": config_id}
        dispatch(ctx, {"type": kind, "portal": portal, "data": data}, Delivery(**options))

    command.__doc__ = doc
    return send.command(kind)(command)


_line_ref("line.delete", "Delete a line.")
_line_ref("line.reconcile", "Cross-check a line against Voximplant again.")


@send.command("portal.sweep")
@click.option("--portal", help="The portal's domain (default: the only one in the settings).")
@delivery_options
@click.pass_context
def portal_sweep(ctx: click.Context, /, *, portal: str | None, **options: Any) -> None:
    """Reconcile every line of a portal."""
    dispatch(ctx, {"type": "portal.sweep", "portal": portal, "data": {}}, Delivery(**options))
