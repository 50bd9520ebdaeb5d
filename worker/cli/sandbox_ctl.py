"""``sipline sandbox-ctl``: steer a running ``sipline sandbox`` from another shell.

Faults, divergences, counters, the application's install and uninstall, and the account's
callback URL go through the sandboxes' ``/_sandbox/…`` admin routes
(:mod:`worker.sandbox.voximplant.admin` for the account); where the sandbox is comes from
the options or its env file (:mod:`worker.cli.sandbox_target`).  Portals that share a port
are read and steered with one request (``/_sandbox/host/…``) when no ``--portal`` narrows
the command.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import click

from worker.cli.common import fail
from worker.cli.sandbox_target import (
    Target,
    call,
    echo,
    locate,
    run,
    shared_hosts,
    target_options,
    with_session,
)
from worker.sandbox.portal.options import totals
from worker.sandbox.voximplant import admin

__all__ = ["sandbox_ctl"]

PORTAL_FAULTS = ("error_500", "html", "drop", "query_limit", "token_stall_seconds")
ACCOUNT_FAULTS = ("kind", "status", "code", "times")


@click.group("sandbox-ctl")
def sandbox_ctl() -> None:
    """Steer a running sandbox: faults, divergences, counters."""


# --- faults ----------------------------------------------------------------------------
_share = click.FloatRange(0.0, 1.0)


@sandbox_ctl.command()
@target_options
@click.option(
    "--on",
    "side",
    type=click.Choice(["bitrix24", "voximplant"]),
    default=None,
    help="Which side (default: the side whose URL is given, else bitrix24).",
)
@click.option("--latency", type=click.FloatRange(0), help="Seconds added to every call.")
@click.option("--error-500", type=_share, help="Bitrix24: share of calls answered 500.")
@click.option("--html", type=_share, help="Bitrix24: share answered with an HTML page.")
@click.option("--drop", type=_share, help="Bitrix24: share whose connection is dropped.")
@click.option("--query-limit", type=_share, help="Bitrix24: share refused as over the limit.")
@click.option(
    "--token-stall-seconds",
    type=click.FloatRange(0),
    help="Bitrix24: hold every token endpoint answer this long after rotating the pair "
    "(a refresher killed meanwhile loses it).",
)
@click.option(
    "--kind",
    type=click.Choice(["status", "html", "drop", "api_error"]),
    help="Voximplant: queue a fault of this kind.",
)
@click.option("--status", type=int, help="Voximplant: the HTTP status of a status fault.")
@click.option("--code", type=int, help="Voximplant: the error code of an api_error fault.")
@click.option("--times", type=click.IntRange(0), help="Voximplant: calls to fault (0: all).")
@click.option("--clear", is_flag=True, help="Remove every fault (and the latency) first.")
def faults(
    *,
    env_file: Path | None,
    bitrix24_url: str | None,
    voximplant_url: str | None,
    portal: str | None,
    side: str | None,
    clear: bool,
    **spec: Any,
) -> None:
    """Inject faults; with no fault option, print the portals' current faults."""
    target = locate(env_file, bitrix24_url, voximplant_url, portal)
    side = side or ("voximplant" if voximplant_url and not bitrix24_url else "bitrix24")
    given = {name: value for name, value in spec.items() if value is not None}
    foreign = set(given) & set(ACCOUNT_FAULTS if side == "bitrix24" else PORTAL_FAULTS)
    if foreign:
        options = ", ".join(f"--{name.replace('_', '-')}" for name in sorted(foreign))
        raise click.UsageError(f"{options} do not apply to the {side} side")
    if side == "voximplant":
        run(_account_faults(target.account_url(), given, clear=clear))
        click.echo("ok")
        return
    if clear:
        given = {"latency": 0.0, **dict.fromkeys(PORTAL_FAULTS, 0.0), **given}
    echo(run(_portal_faults(target, given)))


async def _portal_faults(target: Target, changes: dict[str, Any]) -> dict[str, Any]:
    if not target.portals:
        fail("no portal URL: pass --bitrix24-url or --env-file")
    result: dict[str, Any] = {}
    remaining = dict(target.portals)
    if changes and not target.narrowed:
        for origin, domains in shared_hosts(target.portals).items():
            await call("POST", f"{origin}/_sandbox/host/faults", changes)
            for domain in domains:
                result[domain] = changes
                del remaining[domain]
    verb = "POST" if changes else "GET"
    for domain, base in remaining.items():
        result[domain] = await call(verb, f"{base}/_sandbox/faults", changes or None)
    return result


async def _account_faults(admin_url: str, spec: dict[str, Any], *, clear: bool) -> None:
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        if clear:
            await admin.clear_faults(session, admin_url)
        if "times" in spec and spec["times"] == 0:
            spec["times"] = None
        if spec:
            await admin.inject_fault(session, admin_url, **spec)


# --- divergence ----------------------------------------------------------------------------
@sandbox_ctl.command()
@target_options
@click.argument("reg_id", type=click.IntRange(1))
@click.option("--deactivated", is_flag=True, default=None, help="Report it deactivated.")
@click.option("--proxy", help="Report this SIP server instead.")
@click.option("--sip-username", help="Report this SIP user name instead.")
@click.option(
    "--successful/--failing", default=None, help="Report the registration as working or not."
)
@click.option("--status-code", type=int, help="Report this SIP status code.")
@click.option("--error-message", help="Report this error message.")
@click.option("--delete", "deleted", is_flag=True, default=None, help="Report it as gone.")
@click.option(
    "--sticky",
    is_flag=True,
    default=None,
    help="Keep reporting it after a re-registration (a line no repair can heal).",
)
def diverge(
    *,
    env_file: Path | None,
    bitrix24_url: str | None,
    voximplant_url: str | None,
    portal: str | None,
    reg_id: int,
    **changes: Any,
) -> None:
    """Make Voximplant report something other than the truth about REG_ID."""
    given = {name: value for name, value in changes.items() if value is not None}
    if not given:
        raise click.UsageError("say what to report differently, e.g. --proxy other.example")
    url = locate(env_file, bitrix24_url, voximplant_url, portal).account_url()
    run(with_session(lambda s: admin.diverge(s, url, reg_id, **given)))
    click.echo(f"registration {reg_id} diverges: {', '.join(sorted(given))}")


@sandbox_ctl.command()
@target_options
@click.argument("reg_id", type=click.IntRange(1))
def converge(
    *,
    env_file: Path | None,
    bitrix24_url: str | None,
    voximplant_url: str | None,
    portal: str | None,
    reg_id: int,
) -> None:
    """Make Voximplant report the truth about REG_ID again."""
    url = locate(env_file, bitrix24_url, voximplant_url, portal).account_url()
    run(with_session(lambda s: admin.converge(s, url, reg_id)))
    click.echo(f"registration {reg_id} reports the truth again")


@sandbox_ctl.command()
@target_options
@click.argument("reg_id", type=click.IntRange(1))
@click.option("--status-code", type=click.IntRange(100, 699), default=403, show_default=True)
@click.option("--error-message", default="Forbidden", show_default=True)
@click.option("--undo", is_flag=True, help="Judge REG_ID by the registrar's rules again.")
def refuse(
    *,
    env_file: Path | None,
    bitrix24_url: str | None,
    voximplant_url: str | None,
    portal: str | None,
    reg_id: int,
    status_code: int,
    error_message: str,
    undo: bool,
) -> None:
    """Make the registrar refuse REG_ID: it fails on both sides now (a real failure)."""
    url = locate(env_file, bitrix24_url, voximplant_url, portal).account_url()
    if undo:
        run(with_session(lambda s: admin.admit(s, url, reg_id)))
        click.echo(f"registration {reg_id} re-registered under the registrar's rules")
        return
    refused = admin.refuse
    run(
        with_session(
            lambda s: refused(s, url, reg_id, status_code=status_code, error_message=error_message)
        )
    )
    click.echo(f"registration {reg_id} is refused ({status_code} {error_message})")


@sandbox_ctl.command()
@target_options
def stats(
    *,
    env_file: Path | None,
    bitrix24_url: str | None,
    voximplant_url: str | None,
    portal: str | None,
) -> None:
    """Print the counters of both sides as JSON."""
    target = locate(env_file, bitrix24_url, voximplant_url, portal)
    echo(run(_stats(target)))


async def _stats(target: Target) -> dict[str, Any]:
    counters: dict[str, Any] = {}
    remaining = dict(target.portals)
    if not target.narrowed:
        for origin, domains in shared_hosts(target.portals).items():
            body = await call("GET", f"{origin}/_sandbox/host/counters")
            for domain in domains:
                counters[domain] = body["portals"].get(domain)
                del remaining[domain]
    for domain, base in remaining.items():
        counters[domain] = await call("GET", f"{base}/_sandbox/counters")
    result: dict[str, Any] = {
        "bitrix24": counters,
        "bitrix24_totals": totals(c for c in counters.values() if c is not None),
    }
    if target.account is not None:
        result["voximplant"] = await with_session(lambda s: admin.stats(s, target.account_url()))
    return result


# --- the application's install and uninstall ----------------------------------------------
def _one_portal(target: Target) -> tuple[str, str]:
    if len(target.portals) != 1:
        names = ", ".join(sorted(target.portals)[:5])
        fail(f"say which portal with --portal (this sandbox serves {names}, …)")
    return next(iter(target.portals.items()))


@sandbox_ctl.command()
@target_options
@click.option("--url", required=True, help="The worker's installation callback URL.")
@click.option("--version", "app_version", default="1", show_default=True)
def install(
    *,
    env_file: Path | None,
    bitrix24_url: str | None,
    voximplant_url: str | None,
    portal: str | None,
    url: str,
    app_version: str,
) -> None:
    """Install the application: the portal POSTs ONAPPINSTALL with fresh tokens to URL.

    Exits 0 when the receiver answered 2xx, 1 otherwise; prints no token.
    """
    domain, base = _one_portal(locate(env_file, bitrix24_url, voximplant_url, portal))
    body = run(call("POST", f"{base}/_sandbox/install", {"url": url, "version": app_version}))
    _delivered(domain, body)


@sandbox_ctl.command()
@target_options
@click.option("--url", required=True, help="Where the application's events go.")
@click.option("--clean", is_flag=True, help="As if 'clear the application's data' was ticked.")
def uninstall(
    *,
    env_file: Path | None,
    bitrix24_url: str | None,
    voximplant_url: str | None,
    portal: str | None,
    url: str,
    clean: bool,
) -> None:
    """Uninstall: the portal revokes the tokens and POSTs ONAPPUNINSTALL to URL."""
    domain, base = _one_portal(locate(env_file, bitrix24_url, voximplant_url, portal))
    body = run(call("POST", f"{base}/_sandbox/uninstall", {"url": url, "clean": clean}))
    _delivered(domain, body)


def _delivered(domain: str, body: dict[str, Any]) -> None:
    click.echo(f"{body.get('event')} for {domain}: the receiver answered HTTP {body.get('status')}")
    if not body.get("accepted"):
        raise SystemExit(1)


# --- the account's callbacks ----------------------------------------------------------------
@sandbox_ctl.command()
@target_options
@click.option("--url", default=None, help="Where to POST callbacks ('' turns them off).")
@click.option("--salt", default=None, help="The callback salt (at most 40 characters).")
def callback(
    *,
    env_file: Path | None,
    bitrix24_url: str | None,
    voximplant_url: str | None,
    portal: str | None,
    url: str | None,
    salt: str | None,
) -> None:
    """Set the account's callback URL and salt, as SetAccountInfo does."""
    if url is None and salt is None:
        raise click.UsageError("give --url and/or --salt")
    admin_url = locate(env_file, bitrix24_url, voximplant_url, portal).account_url()
    spec = {k: v for k, v in {"url": url, "salt": salt}.items() if v is not None}
    body = run(call("POST", f"{admin_url}callback", spec))
    click.echo(f"callbacks go to {body.get('callback_url') or 'nowhere (off)'}")
