"""``sipline sandbox``: the sandbox portals and Voximplant account, served alone until a signal.

It writes a dotenv file (mode 0600) that ``sipline run --env-file`` reads, and prints a
summary in which the webhook codes are masked: the full URLs are only in that file.
``--json-file`` also writes :meth:`Sandbox.describe` (settings and admin URLs) for a test
that runs the sandbox as a process of its own.  ``--portals N`` serves N portals
(p0001.bitrix24.test …) on one port under ``/p/<domain>/``; ``--one-port`` does the same
for portals named with ``--portal``.
``sipline sandbox-ctl`` (:mod:`worker.cli.sandbox_ctl`) steers it from another shell.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from worker.cli.common import fail
from worker.cli.sandbox_ctl import sandbox_ctl
from worker.cli.sandbox_summary import Layout, summary
from worker.observability import logs

if TYPE_CHECKING:
    from worker.sandbox.registrations import AcceptRule
    from worker.sandbox.stack import Auth, Sandbox

__all__ = ["sandbox", "sandbox_ctl"]

log = logging.getLogger(__name__)

DEFAULT_PORTAL = "sandbox.bitrix24.test"
DEFAULT_STATE_DIR = Path(".sandbox")
ENV_FILE_NAME = "sandbox.env"
MAX_SALT = 40  # Voximplant's limit on callback_salt
WILDCARD_HOSTS = ("0.0.0.0", "::", "")  # noqa: S104 - names to recognise, not to bind


# --- option parsing ------------------------------------------------------------------
def _bucket(_ctx: click.Context, _param: click.Parameter, value: str | None) -> Any:
    if value is None:
        return None
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+(?:\.\d+)?)\s*", value)
    if match is None or int(match[1]) < 1 or float(match[2]) <= 0:
        raise click.BadParameter("expected CAPACITY/RATE, e.g. 100/10")
    return int(match[1]), float(match[2])


def _domains(_ctx: click.Context, _param: click.Parameter, value: tuple[str, ...]) -> Any:
    from contracts.envelope import PORTAL_PATTERN

    domains = [d.strip().lower() for d in value] or [DEFAULT_PORTAL]
    for domain in domains:
        if not re.fullmatch(PORTAL_PATTERN, domain):
            raise click.BadParameter(f"{domain!r} is not a portal domain like a.bitrix24.test")
    if len(set(domains)) != len(domains):
        raise click.BadParameter("each portal domain may be given once")
    return domains


def parse_accept(value: str) -> tuple[str, str, str]:
    """``SERVER[:PORT]:LOGIN:PASSWORD`` → (server, login, password); the password may hold ``:``."""
    parts = value.split(":")
    if len(parts) >= 4 and parts[1].isdigit():
        parts = [f"{parts[0]}:{parts[1]}", *parts[2:]]
    if len(parts) < 3 or not all(parts[:3]):
        raise ValueError("expected SERVER:LOGIN:PASSWORD (LOGIN may be *)")
    return parts[0], parts[1], ":".join(parts[2:])


def _accept(_ctx: click.Context, _param: click.Parameter, value: tuple[str, ...]) -> Any:
    try:
        return [parse_accept(v) for v in value]
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


# --- building and serving --------------------------------------------------------------
def build_sandbox(
    layout: Layout,
    *,
    domains: list[str],
    plan: str,
    bucket: tuple[int, float] | None,
    cloud_pbx_limit: int,
    auth: Auth,
    rules: list[AcceptRule] | None,
    wait_seconds: float,
    progress_seconds: float,
    faults: dict[str, float],
    seed: int | None,
    one_port: bool = False,
    token_ttl: float = 3600.0,
    shuffle_unordered_pages: bool = False,
) -> Sandbox:
    """The sandbox the options describe (not started)."""
    from worker.sandbox.portal import PortalOptions
    from worker.sandbox.stack import Sandbox

    portals = []
    for domain in domains:
        options = (PortalOptions.enterprise if plan == "enterprise" else PortalOptions)(
            domain=domain,
            cloud_pbx_limit=cloud_pbx_limit,
            seed=seed,
            access_token_ttl=token_ttl,
            unordered_pages_shuffle=shuffle_unordered_pages,
        )
        if bucket is not None:
            options.bucket_capacity, options.drain_per_second = bucket
        portals.append(options)
    advertise = layout.advertise_host
    if advertise is None and layout.host in WILDCARD_HOSTS:
        advertise = "127.0.0.1"
    built = Sandbox(
        directory=layout.state_dir,
        portals=portals,
        rules=rules,
        wait_seconds=wait_seconds,
        progress_seconds=progress_seconds,
        host=layout.host,
        advertise_host=advertise,
        auth=auth,
        one_port=one_port,
    )
    for portal in built.portals:
        portal.set_faults(**faults)
    return built


async def start(sandbox: Sandbox, layout: Layout) -> None:
    """Listen: the first portal on its port, the others on the next ports or any free one
    (all portals on the one port when they share it)."""
    if sandbox.host is not None:
        await sandbox.start(
            portal_ports=[layout.bitrix24_port], account_port=layout.voximplant_port
        )
        return
    taken = {layout.voximplant_port} - {0}
    port = layout.bitrix24_port
    for index, portal in enumerate(sandbox.portals_on_own_ports()):
        while port and port in taken:
            port += 1
        try:
            await portal.start(layout.host, port if port <= 65535 else 0)
        except OSError:
            if index == 0 or port == 0:
                raise
            log.info("port %s is busy; portal %s takes any free port", port, portal.options.domain)
            await portal.start(layout.host, 0)
        port = port + 1 if port else 0
    await sandbox.start(account_port=layout.voximplant_port)


def write_private(path: Path, text: str) -> None:
    """Write ``text`` readable by the owner alone, replacing the file in one step."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        os.fchmod(handle.fileno(), 0o600)
        handle.write(text)
    os.replace(partial, path)


async def serve(sandbox: Sandbox, layout: Layout) -> None:
    """Start, write the env file, print the summary, and wait for SIGTERM or SIGINT."""
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    # A file left by an earlier run names ports and codes that are gone: never serve it.
    layout.env_file.unlink(missing_ok=True)
    try:
        await start(sandbox, layout)
        write_private(layout.env_file, sandbox.dotenv())
        if layout.json_file is not None:
            write_private(layout.json_file, json.dumps(sandbox.describe(), indent=2) + "\n")
        click.echo(summary(sandbox, layout))
        log.info("sandbox ready; env file %s", layout.env_file)
        await stopping.wait()
        log.info("stopping the sandbox")
    finally:
        await sandbox.stop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


# --- the command -----------------------------------------------------------------------------
def _secrets(sandbox: Sandbox) -> list[str]:
    values = [p.options.webhook_code for p in sandbox.portals]
    values += [p.options.oauth_client_secret for p in sandbox.portals]
    values += [sandbox.account.api_key, sandbox.account.callback_salt or ""]
    return values + [rule.password for rule in sandbox.store.rules]


_share = click.FloatRange(0.0, 1.0)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--advertise-host",
    default=None,
    help="Host written into the env file's URLs (a container's service name).",
)
@click.option(
    "--bitrix24-port",
    type=click.IntRange(0, 65535),
    default=0,
    show_default=True,
    help="The first portal's port (0: any free port); more portals take the next ports.",
)
@click.option("--voximplant-port", type=click.IntRange(0, 65535), default=0, show_default=True)
@click.option(
    "--portal",
    "domains",
    multiple=True,
    callback=_domains,
    metavar="DOMAIN",
    help=f"A portal to serve (repeatable; default {DEFAULT_PORTAL}).",
)
@click.option(
    "--portals",
    "portal_count",
    type=click.IntRange(1, 100_000),
    default=None,
    help="Serve N portals p0001.bitrix24.test … on one port (under /p/DOMAIN/).",
)
@click.option(
    "--one-port",
    is_flag=True,
    help="Serve every --portal on one port under /p/DOMAIN/ instead of a port each.",
)
@click.option(
    "--plan", type=click.Choice(["standard", "enterprise"]), default="standard", show_default=True
)
@click.option(
    "--bucket",
    callback=_bucket,
    metavar="N/RATE",
    help="A custom leaky bucket: N requests draining RATE per second (overrides --plan).",
)
@click.option("--cloud-pbx-limit", type=click.IntRange(0), default=5, show_default=True)
@click.option(
    "--shuffle-unordered-pages",
    is_flag=True,
    help="voximplant.sip.get without SORT/ORDER returns rows in a new order each call, "
    "so unordered paging repeats and skips rows.",
)
@click.option(
    "--auth",
    type=click.Choice(["webhook", "oauth", "mixed"]),
    default="webhook",
    show_default=True,
    help="How the env file authenticates the portals; mixed: every second portal by OAuth.",
)
@click.option(
    "--token-ttl",
    type=click.FloatRange(0.1),
    default=3600.0,
    show_default=True,
    help="OAuth: seconds an access token lives (Bitrix24: 3600); then 401 expired_token.",
)
@click.option(
    "--voximplant-callback-url",
    default=None,
    help="Where the account POSTs its callbacks (sip_registration_fail/recovered).",
)
@click.option(
    "--voximplant-callback-salt",
    default=None,
    help="The callback salt (≤ 40 characters) each callback's hash is made with.",
)
@click.option(
    "--accept",
    "accepts",
    multiple=True,
    callback=_accept,
    metavar="SERVER:LOGIN:PASSWORD",
    help="Credentials the SIP side accepts (repeatable; LOGIN may be *). "
    "Default: sip.sandbox.test:*:sandbox-pass.",
)
@click.option("--wait-seconds", type=click.FloatRange(0), default=1.0, show_default=True)
@click.option("--progress-seconds", type=click.FloatRange(0), default=2.0, show_default=True)
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_STATE_DIR,
    show_default=True,
    help="Where the Voximplant key and credentials.json live (kept between runs).",
)
@click.option(
    "--env-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help=f"Where to write the worker's settings (default: STATE_DIR/{ENV_FILE_NAME}).",
)
@click.option(
    "--json-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the settings and every admin URL as JSON here (mode 0600).",
)
@click.option("--latency", type=click.FloatRange(0), default=0.0, help="Seconds added per call.")
@click.option("--error-500", type=_share, default=0.0, help="Share of calls answered 500.")
@click.option("--html", type=_share, default=0.0, help="Share answered with an HTML page.")
@click.option("--drop", type=_share, default=0.0, help="Share whose connection is dropped.")
@click.option("--query-limit", type=_share, default=0.0, help="Share refused as over the limit.")
@click.option("--seed", type=int, default=None, help="Seed of the fault dice.")
@click.option(
    "--log-level",
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"]),
    default="INFO",
    show_default=True,
)
@click.option(
    "--log-format",
    type=click.Choice(["auto", "json", "console"]),
    default="auto",
    show_default=True,
)
def sandbox(
    *,
    host: str,
    advertise_host: str | None,
    bitrix24_port: int,
    voximplant_port: int,
    domains: list[str],
    portal_count: int | None,
    one_port: bool,
    plan: str,
    bucket: tuple[int, float] | None,
    cloud_pbx_limit: int,
    shuffle_unordered_pages: bool,
    auth: Auth,
    token_ttl: float,
    voximplant_callback_url: str | None,
    voximplant_callback_salt: str | None,
    accepts: list[tuple[str, str, str]],
    wait_seconds: float,
    progress_seconds: float,
    state_dir: Path,
    env_file: Path | None,
    json_file: Path | None,
    seed: int | None,
    log_level: str,
    log_format: str,
    **faults: float,
) -> None:
    """Serve sandbox Bitrix24 portals and a Voximplant account until SIGINT or SIGTERM."""
    from worker.sandbox.registrations import AcceptRule
    from worker.sandbox.stack import portal_domains

    if portal_count is not None:
        if domains != [DEFAULT_PORTAL]:
            raise click.UsageError("--portals N names the portals itself; drop --portal")
        domains, one_port = portal_domains(portal_count), True
    if voximplant_callback_salt is not None and len(voximplant_callback_salt) > MAX_SALT:
        raise click.BadParameter(f"at most {MAX_SALT} characters", param_hint="callback salt")
    state_dir = state_dir.resolve()
    layout = Layout(
        host=host,
        advertise_host=advertise_host,
        bitrix24_port=bitrix24_port,
        voximplant_port=voximplant_port,
        state_dir=state_dir,
        env_file=(env_file or state_dir / ENV_FILE_NAME).resolve(),
        json_file=json_file.resolve() if json_file is not None else None,
    )
    built = build_sandbox(
        layout,
        domains=domains,
        plan=plan,
        bucket=bucket,
        cloud_pbx_limit=cloud_pbx_limit,
        auth=auth,
        rules=[AcceptRule(*accept) for accept in accepts] or None,
        wait_seconds=wait_seconds,
        progress_seconds=progress_seconds,
        faults={name: value for name, value in faults.items() if value},
        seed=seed,
        one_port=one_port,
        token_ttl=token_ttl,
        shuffle_unordered_pages=shuffle_unordered_pages,
    )
    if voximplant_callback_url is not None or voximplant_callback_salt is not None:
        built.account.set_callback(voximplant_callback_url, voximplant_callback_salt)
    logs.configure(level=log_level, fmt=log_format, secrets=_secrets(built))
    try:
        asyncio.run(serve(built, layout))
    except OSError as exc:
        fail(f"cannot listen on {host}: {exc.strerror or exc}", code=1)
