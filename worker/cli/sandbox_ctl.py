"""``sipline sandbox-ctl``: steer a running ``sipline sandbox`` from another shell.

Faults, divergences, counters, the application's install and uninstall, and the account's
callback URL go through the sandboxes' ``/_sandbox/…`` admin routes
(:mod:`worker.sandbox.voximplant.admin` for the account). The URLs come from the options or
from the env file the sandbox wrote: the portals' base URLs from ``SIPLINE_PORTALS`` (the URL
before ``/rest/``: ``http://HOST:PORT`` or ``http://HOST:PORT/p/DOMAIN``) and the account's
from ``SIPLINE_VOXIMPLANT_API_URL``.  Portals that share a port are read and steered with one
request (``/_sandbox/host/…``) when no ``--portal`` narrows the command.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import aiohttp
import click

from worker.cli.common import fail, settings_or_exit
from worker.sandbox.portal.options import totals
from worker.sandbox.voximplant import admin

__all__ = ["sandbox_ctl"]

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")

DEFAULT_ENV_FILE = Path(".sandbox/sandbox.env")
PORTAL_FAULTS = ("error_500", "html", "drop", "query_limit")
ACCOUNT_FAULTS = ("kind", "status", "code", "times")


@dataclass(frozen=True, slots=True)
class Target:
    """The admin URLs of one running sandbox."""

    portals: dict[str, str]  # domain → base URL
    account: str | None  # the account's ``…/_sandbox/`` URL
    narrowed: bool = False  # --portal chose one of them

    def account_url(self) -> str:
        if self.account is None:
            fail("no Voximplant URL: pass --voximplant-url or --env-file")
        return self.account


def _origin(url: str) -> str:
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        raise click.BadParameter(f"{url!r} is not an http URL")
    return f"{parts.scheme}://{parts.netloc}"


def _portal_base(url: str) -> str:
    """A portal's base URL from its webhook or REST URL: everything before ``/rest/``."""
    origin = _origin(url)
    path = urlsplit(url).path
    prefix = path.split("/rest/", 1)[0] if "/rest/" in path else ""
    return origin + prefix.rstrip("/")


def _shared_hosts(portals: dict[str, str]) -> dict[str, list[str]]:
    """Origins serving portals under ``/p/DOMAIN`` → their domains."""
    hosts: dict[str, list[str]] = {}
    for domain, base in portals.items():
        if urlsplit(base).path.startswith("/p/"):
            hosts.setdefault(_origin(base), []).append(domain)
    return hosts


def _from_env_file(env_file: Path, portal: str | None) -> Target:
    settings = settings_or_exit(env_file)
    portals: dict[str, str] = {}
    for domain, entry in settings.portals.items():
        if entry.webhook_url is not None:
            portals[domain] = _portal_base(entry.webhook_url.get_secret_value())
        elif entry.oauth is not None:
            portals[domain] = _portal_base(str(entry.oauth.rest_url))
    if portal is not None:
        if portal.lower() not in portals:
            fail(f"{env_file} names no portal {portal!r}; it has {sorted(portals)}")
        portals = {portal.lower(): portals[portal.lower()]}
    account = _origin(str(settings.voximplant_api_url)) + "/_sandbox/"
    return Target(portals, account, narrowed=portal is not None)


def _target(
    env_file: Path | None, bitrix24_url: str | None, voximplant_url: str | None, portal: str | None
) -> Target:
    if bitrix24_url or voximplant_url:
        portals = {portal or "portal": _portal_base(bitrix24_url)} if bitrix24_url else {}
        account = _origin(voximplant_url) + "/_sandbox/" if voximplant_url else None
        return Target(portals, account)
    if env_file is None and DEFAULT_ENV_FILE.is_file():
        env_file = DEFAULT_ENV_FILE
    if env_file is None:
        fail("where is the sandbox? pass --env-file, --bitrix24-url or --voximplant-url")
    return _from_env_file(env_file, portal)


def target_options(func: F) -> F:
    """``--env-file``, ``--bitrix24-url``, ``--voximplant-url``, ``--portal``."""
    for option in reversed(
        [
            click.option(
                "--env-file",
                type=click.Path(exists=True, dir_okay=False, path_type=Path),
                help=f"The env file the sandbox wrote (default {DEFAULT_ENV_FILE} if present).",
            ),
            click.option("--bitrix24-url", help="A sandbox portal's base URL."),
            click.option("--voximplant-url", help="The sandbox account's URL."),
            click.option("--portal", help="With --env-file: only this portal."),
        ]
    ):
        func = option(func)
    return func


def _run(work: Coroutine[Any, Any, T]) -> T:
    try:
        return asyncio.run(work)
    except admin.AdminError as exc:
        fail(str(exc), code=1)
    except (aiohttp.ClientError, OSError) as exc:
        fail(f"cannot reach the sandbox: {exc}", code=1)


async def _call(verb: str, url: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    timeout = aiohttp.ClientTimeout(total=10)
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        session.request(verb, url, json=body) as response,
    ):
        payload = await response.json(content_type=None)
        if response.status != 200:
            error = payload.get("error") if isinstance(payload, dict) else payload
            raise admin.AdminError(f"{verb} {url}: HTTP {response.status}: {error}")
        return payload if isinstance(payload, dict) else {}


def _echo(value: object) -> None:
    click.echo(json.dumps(value, indent=2, sort_keys=True))


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
    target = _target(env_file, bitrix24_url, voximplant_url, portal)
    side = side or ("voximplant" if voximplant_url and not bitrix24_url else "bitrix24")
    given = {name: value for name, value in spec.items() if value is not None}
    foreign = set(given) & set(ACCOUNT_FAULTS if side == "bitrix24" else PORTAL_FAULTS)
    if foreign:
        options = ", ".join(f"--{name.replace('_', '-')}" for name in sorted(foreign))
        raise click.UsageError(f"{options} do not apply to the {side} side")
    if side == "voximplant":
        _run(_account_faults(target.account_url(), given, clear=clear))
        click.echo("ok")
        return
    if clear:
        given = {"latency": 0.0, **dict.fromkeys(PORTAL_FAULTS, 0.0), **given}
    _echo(_run(_portal_faults(target, given)))


async def _portal_faults(target: Target, changes: dict[str, Any]) -> dict[str, Any]:
    if not target.portals:
        fail("no portal URL: pass --bitrix24-url or --env-file")
    result: dict[str, Any] = {}
    remaining = dict(target.portals)
    if changes and not target.narrowed:
        for origin, domains in _shared_hosts(target.portals).items():
            await _call("POST", f"{origin}/_sandbox/host/faults", changes)
            for domain in domains:
                result[domain] = changes
                del remaining[domain]
    verb = "POST" if changes else "GET"
    for domain, base in remaining.items():
        result[domain] = await _call(verb, f"{base}/_sandbox/faults", changes or None)
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
    url = _target(env_file, bitrix24_url, voximplant_url, portal).account_url()
    _run(_with_session(lambda s: admin.diverge(s, url, reg_id, **given)))
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
    url = _target(env_file, bitrix24_url, voximplant_url, portal).account_url()
    _run(_with_session(lambda s: admin.converge(s, url, reg_id)))
    click.echo(f"registration {reg_id} reports the truth again")


async def _with_session(call: Callable[[aiohttp.ClientSession], Coroutine[Any, Any, T]]) -> T:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        return await call(session)


# --- counters ------------------------------------------------------------------------------
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
    target = _target(env_file, bitrix24_url, voximplant_url, portal)
    _echo(_run(_stats(target)))


async def _stats(target: Target) -> dict[str, Any]:
    counters: dict[str, Any] = {}
    remaining = dict(target.portals)
    if not target.narrowed:
        for origin, domains in _shared_hosts(target.portals).items():
            body = await _call("GET", f"{origin}/_sandbox/host/counters")
            for domain in domains:
                counters[domain] = body["portals"].get(domain)
                del remaining[domain]
    for domain, base in remaining.items():
        counters[domain] = await _call("GET", f"{base}/_sandbox/counters")
    result: dict[str, Any] = {
        "bitrix24": counters,
        "bitrix24_totals": totals(c for c in counters.values() if c is not None),
    }
    if target.account is not None:
        result["voximplant"] = await _with_session(lambda s: admin.stats(s, target.account_url()))
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
    domain, base = _one_portal(_target(env_file, bitrix24_url, voximplant_url, portal))
    body = _run(_call("POST", f"{base}/_sandbox/install", {"url": url, "version": app_version}))
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
    domain, base = _one_portal(_target(env_file, bitrix24_url, voximplant_url, portal))
    body = _run(_call("POST", f"{base}/_sandbox/uninstall", {"url": url, "clean": clean}))
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
    admin_url = _target(env_file, bitrix24_url, voximplant_url, portal).account_url()
    spec = {k: v for k, v in {"url": url, "salt": salt}.items() if v is not None}
    body = _run(_call("POST", f"{admin_url}callback", spec))
    click.echo(f"callbacks go to {body.get('callback_url') or 'nowhere (off)'}")
