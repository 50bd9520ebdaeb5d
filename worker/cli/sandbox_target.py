"""Where a running sandbox is, and how ``sipline sandbox-ctl`` talks to its admin routes.

The URLs come from the options or from the env file the sandbox wrote: the portals' base
URLs from ``SIPLINE_PORTALS`` (the URL before ``/rest/``: ``http://HOST:PORT`` or
``http://HOST:PORT/p/DOMAIN``) and the account's from ``SIPLINE_VOXIMPLANT_API_URL``.
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
from worker.sandbox.voximplant import admin

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")

DEFAULT_ENV_FILE = Path(".sandbox/sandbox.env")


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


def url_origin(url: str) -> str:
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        raise click.BadParameter(f"{url!r} is not an http URL")
    return f"{parts.scheme}://{parts.netloc}"


def portal_base(url: str) -> str:
    """A portal's base URL from its webhook or REST URL: everything before ``/rest/``."""
    origin = url_origin(url)
    path = urlsplit(url).path
    prefix = path.split("/rest/", 1)[0] if "/rest/" in path else ""
    return origin + prefix.rstrip("/")


def shared_hosts(portals: dict[str, str]) -> dict[str, list[str]]:
    """Origins serving portals under ``/p/DOMAIN`` → their domains."""
    hosts: dict[str, list[str]] = {}
    for domain, base in portals.items():
        if urlsplit(base).path.startswith("/p/"):
            hosts.setdefault(url_origin(base), []).append(domain)
    return hosts


def from_env_file(env_file: Path, portal: str | None) -> Target:
    settings = settings_or_exit(env_file)
    portals: dict[str, str] = {}
    for domain, entry in settings.portals.items():
        if entry.webhook_url is not None:
            portals[domain] = portal_base(entry.webhook_url.get_secret_value())
        elif entry.oauth is not None:
            portals[domain] = portal_base(str(entry.oauth.rest_url))
    if portal is not None:
        if portal.lower() not in portals:
            fail(f"{env_file} names no portal {portal!r}; it has {sorted(portals)}")
        portals = {portal.lower(): portals[portal.lower()]}
    account = url_origin(str(settings.voximplant_api_url)) + "/_sandbox/"
    return Target(portals, account, narrowed=portal is not None)


def locate(
    env_file: Path | None, bitrix24_url: str | None, voximplant_url: str | None, portal: str | None
) -> Target:
    if bitrix24_url or voximplant_url:
        portals = {portal or "portal": portal_base(bitrix24_url)} if bitrix24_url else {}
        account = url_origin(voximplant_url) + "/_sandbox/" if voximplant_url else None
        return Target(portals, account)
    if env_file is None and DEFAULT_ENV_FILE.is_file():
        env_file = DEFAULT_ENV_FILE
    if env_file is None:
        fail("where is the sandbox? pass --env-file, --bitrix24-url or --voximplant-url")
    return from_env_file(env_file, portal)


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


def run(work: Coroutine[Any, Any, T]) -> T:
    try:
        return asyncio.run(work)
    except admin.AdminError as exc:
        fail(str(exc), code=1)
    except (aiohttp.ClientError, OSError) as exc:
        fail(f"cannot reach the sandbox: {exc}", code=1)


async def call(verb: str, url: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
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


def echo(value: object) -> None:
    click.echo(json.dumps(value, indent=2, sort_keys=True))


async def with_session(call: Callable[[aiohttp.ClientSession], Coroutine[Any, Any, T]]) -> T:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        return await call(session)


# --- counters ------------------------------------------------------------------------------
