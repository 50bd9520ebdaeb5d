"""``sipline portals``: the portal registry in the store (add, list, show, set, remove).

Secrets are taken from environment variables (``--webhook-url-env``, ``--client-secret-env``,
``--access-token-env``, ``--refresh-token-env``) so they stay out of shell history and
process listings; ``--webhook-url URL`` is accepted too. Nothing printed holds a secret.

Exit codes: 0 done; 1 the store refused (no such portal, already registered) or could not
be reached; 2 a bad option, or the store's settings, key or schema (one line on stderr).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import click
from pydantic import SecretStr

from worker.cli.common import env_file_option, fail
from worker.cli.store import run_store_command, store_settings
from worker.ops import portals as entries
from worker.settings import Settings
from worker.store import PortalRecord, Store

F = TypeVar("F", bound=Callable[..., Any])
ACCESS_TOKEN_LIFETIME = timedelta(hours=1)


def _secret_env(option: str, name: str | None) -> SecretStr | None:
    if name is None:
        return None
    value = os.environ.get(name, "")
    if not value.strip():
        fail(f"{option} {name}: that environment variable is empty or not set")
    return SecretStr(value.strip())


def _entry(work: Callable[[], Any]) -> Any:
    try:
        return work()
    except entries.InvalidEntry as exc:
        fail(str(exc))


def _sweep_interval(
    ctx: click.Context, param: click.Parameter, value: float | None
) -> float | None:
    if value is not None and 0 < value < 1:
        raise click.BadParameter("0 (no scheduled sweeps) or at least 1 second", ctx, param)
    return value


def limit_options(func: F) -> F:
    """Options ``add`` and ``set`` share: the rate limit and how sweeps treat the portal."""
    for option in reversed(
        [
            click.option(
                "--plan",
                type=click.Choice(["standard", "enterprise"]),
                help="Bitrix24 plan: 50 requests @ 2/s, or 250 @ 5/s.",
            ),
            click.option("--bucket", metavar="N/RATE", help="A custom leaky bucket, e.g. 100/3."),
            click.option(
                "--sweep-interval",
                type=click.FloatRange(min=0),
                callback=_sweep_interval,
                help="Seconds between scheduled sweeps of this portal (0: none; at least 1 "
                "otherwise; unset: SIPLINE_SWEEP_INTERVAL).",
            ),
            click.option(
                "--repair-policy",
                "--repair",
                "repair_policy",
                type=click.Choice(["observe", "repair"]),
                help="observe: report drift only; repair: re-apply a drifted or missing "
                "line's own Bitrix24 settings.",
            ),
            click.option(
                "--repair-budget",
                type=click.IntRange(min=0),
                help="Most repairs per line per hour (default 3).",
            ),
        ]
    ):
        func = option(func)
    return func


def _with_store(settings: Settings, work: Callable[[Store], Any]) -> Any:
    from worker.adapters.store import open_store

    async def main() -> Any:
        async with open_store(settings) as store:
            return await work(store)

    return run_store_command(main)


@click.group()
def portals() -> None:
    """The portal registry: which Bitrix24 portals the worker serves, and how."""


@portals.command()
@env_file_option
@click.argument("domain")
@click.option("--webhook-url", metavar="URL", help="Inbound webhook https://PORTAL/rest/ID/CODE/.")
@click.option("--webhook-url-env", metavar="VAR", help="Read the webhook URL from $VAR.")
@click.option("--oauth", is_flag=True, help="An OAuth (local or market) application.")
@click.option("--client-id", help="The OAuth application's client id.")
@click.option("--client-secret-env", metavar="VAR", help="Read the client secret from $VAR.")
@click.option("--rest-url", help="REST endpoint (default: https://DOMAIN/rest/).")
@click.option("--oauth-server-url", help="Token endpoint (default: Bitrix24's OAuth server).")
@click.option("--access-token-env", metavar="VAR", help="Seed the access token from $VAR.")
@click.option("--refresh-token-env", metavar="VAR", help="Seed the refresh token from $VAR.")
@click.option(
    "--member-id",
    help="OAuth: the portal's Bitrix24 member_id; its first install must come from it.",
)
@limit_options
@click.option("--disabled", is_flag=True, help="Register it switched off.")
@click.option(
    "--owns-voximplant-account/--no-owns-voximplant-account",
    default=False,
    help="The Voximplant account serves this portal alone (sweeps report orphans).",
)
def add(env_file: Path | None, domain: str, **options: Any) -> None:
    """Register a portal (webhook or OAuth); its secrets are stored encrypted."""
    settings = store_settings(env_file)
    record = _entry(lambda: _new_record(domain, options))
    tokens = _seed_tokens(options)

    async def work(store: Store) -> PortalRecord:
        async with store.unit_of_work() as uow:
            added = await uow.portals.add(record)
            if tokens is not None:
                await uow.tokens.put(added.domain, **tokens)
            await uow.commit()
            return added

    added: PortalRecord = _with_store(settings, work)
    capacity, drain = added.bucket()
    click.echo(f"added {added.domain} ({added.auth}, bucket {capacity}/{drain:g})")


def _new_record(raw_domain: str, options: dict[str, Any]) -> PortalRecord:
    name = entries.domain(raw_domain)
    limits = entries.limits(options["plan"], options["bucket"]) or entries.Limits(
        "standard", None, None
    )
    common: dict[str, Any] = {
        "domain": name,
        "plan": limits.plan,
        "bucket_capacity": limits.bucket_capacity,
        "drain_per_second": limits.drain_per_second,
        "enabled": not options["disabled"],
        "sweep_interval": options["sweep_interval"],
        "repair_policy": options["repair_policy"] or "observe",
        "repair_budget": options["repair_budget"],
        "owns_voximplant_account": options["owns_voximplant_account"],
    }
    hook = _webhook(name, options)
    if options["oauth"] == (hook is not None):
        raise entries.InvalidEntry("give exactly one of --webhook-url(-env) or --oauth")
    if hook is not None:
        if options["member_id"] is not None:
            raise entries.InvalidEntry("--member-id is for OAuth portals (--oauth)")
        return PortalRecord(auth="webhook", webhook_url=hook, **common)
    secret = _secret_env("--client-secret-env", options["client_secret_env"])
    if not options["client_id"] or secret is None:
        raise entries.InvalidEntry("--oauth needs --client-id and --client-secret-env")
    if options["oauth_server_url"]:
        common["oauth_server_url"] = options["oauth_server_url"]
    return PortalRecord(
        auth="oauth",
        client_id=options["client_id"],
        client_secret=secret,
        rest_url=options["rest_url"] or f"https://{name}/rest/",
        member_id=None if options["member_id"] is None else entries.member_id(options["member_id"]),
        **common,
    )


def _webhook(name: str, options: dict[str, Any]) -> SecretStr | None:
    if options["webhook_url"] is not None and options["webhook_url_env"] is not None:
        raise entries.InvalidEntry("give --webhook-url or --webhook-url-env, not both")
    raw = options["webhook_url"]
    if options["webhook_url_env"] is not None:
        secret = _secret_env("--webhook-url-env", options["webhook_url_env"])
        raw = None if secret is None else secret.get_secret_value()
    return None if raw is None else entries.webhook_url(raw, portal=name)


def _seed_tokens(options: dict[str, Any]) -> dict[str, Any] | None:
    access = _secret_env("--access-token-env", options["access_token_env"])
    refresh = _secret_env("--refresh-token-env", options["refresh_token_env"])
    if access is None and refresh is None:
        return None
    if access is None or refresh is None or not options["oauth"]:
        fail("--access-token-env and --refresh-token-env go together, with --oauth")
    expires = datetime.now(UTC) + ACCESS_TOKEN_LIFETIME
    return {"access_token": access, "refresh_token": refresh, "expires_at": expires}


@portals.command("list")
@env_file_option
@click.option("--json", "as_json", is_flag=True, help="A JSON array instead of a table.")
def list_(env_file: Path | None, as_json: bool) -> None:
    """Every registered portal, secrets masked."""
    settings = store_settings(env_file)

    async def work(store: Store) -> list[dict[str, Any]]:
        async with store.unit_of_work(readonly=True) as uow:
            marked = {t.portal: t for t in await uow.tokens.needing_reauth()}
            return [entries.view(p, marked.get(p.domain)) for p in await uow.portals.list()]

    shown: list[dict[str, Any]] = _with_store(settings, work)
    if as_json:
        click.echo(json.dumps(shown, indent=2))
        return
    if not shown:
        click.echo("no portals registered (sipline portals add DOMAIN …)")
        return
    columns = ["domain", "auth", "enabled", "bucket", "repair_policy", "version", "updated_at"]
    rows = [[str(p[c]) for c in columns] for p in shown]
    if any(p.get("reauthorization") for p in shown):  # a column only when a portal needs it
        columns.append("needs")
        for row, p in zip(rows, shown, strict=True):
            mark = p.get("reauthorization")
            row.append(f"REAUTHORIZE ({mark['reason']})" if mark else "")
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(columns)]
    for row in [columns, *rows]:
        click.echo("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


@portals.command()
@env_file_option
@click.argument("domain")
@click.option("--json", "as_json", is_flag=True, help="A JSON object instead of text.")
def show(env_file: Path | None, domain: str, as_json: bool) -> None:
    """One portal's entry (and its OAuth tokens' age), secrets masked."""
    settings = store_settings(env_file)
    name = _entry(lambda: entries.domain(domain))

    async def work(store: Store) -> dict[str, Any] | None:
        async with store.unit_of_work(readonly=True) as uow:
            portal = await uow.portals.get(name)
            if portal is None:
                return None
            return entries.view(portal, await uow.tokens.get(name))

    shown: dict[str, Any] | None = _with_store(settings, work)
    if shown is None:
        fail(f"portal {name} is not registered", 1)
    if as_json:
        click.echo(json.dumps(shown, indent=2))
        return
    mark = shown.pop("reauthorization", None)
    for key, value in shown.items():
        click.echo(f"{key:25} {'-' if value is None else value}")
    if mark is not None:
        click.echo(
            f"NEEDS AUTHORISING AGAIN since {mark['since']} ({mark['reason']}): "
            f"{mark['detail']}\nwhat to do: {mark['action']}"
        )


@portals.command("set")
@env_file_option
@click.argument("domain")
@click.option("--enable/--disable", "enabled", default=None, help="Switch the portal on or off.")
@click.option("--webhook-url", metavar="URL", help="A new webhook URL (webhook portals).")
@click.option("--webhook-url-env", metavar="VAR", help="Read the new webhook URL from $VAR.")
@click.option("--client-id", help="A new client id (OAuth portals).")
@click.option("--client-secret-env", metavar="VAR", help="Read a new client secret from $VAR.")
@click.option(
    "--member-id",
    help="OAuth: pin the portal's member_id (before its first install; not once installed).",
)
@click.option(
    "--access-token-env",
    metavar="VAR",
    help="Store a new OAuth pair: the access token from $VAR (with --refresh-token-env).",
)
@click.option("--refresh-token-env", metavar="VAR", help="The new pair's refresh token from $VAR.")
@limit_options
@click.option(
    "--owns-voximplant-account/--no-owns-voximplant-account",
    " /--shares-voximplant-account",
    "owns_voximplant_account",
    default=None,
    help="Whether the Voximplant account serves this portal alone.",
)
def set_(env_file: Path | None, domain: str, **options: Any) -> None:
    """Change a portal's entry; only the options given change.

    A new OAuth pair (``--access-token-env`` and ``--refresh-token-env``) replaces the
    stored one and clears the portal's need to be authorised again; alone, it may also be
    given to an OAuth portal of ``SIPLINE_PORTALS`` (whose pair the store keeps)."""
    settings = store_settings(env_file)
    name = _entry(lambda: entries.domain(domain))
    tokens = _seed_tokens({**options, "oauth": True})

    async def work(store: Store) -> str | None:
        async with store.unit_of_work() as uow:
            current = await uow.portals.get(name)
            if current is None and tokens is not None and not _any_change(options):
                # an OAuth portal of SIPLINE_PORTALS: its pair lives in the store alone
                if await uow.tokens.get(name) is None:
                    return None
                await uow.tokens.put(name, **tokens)
                await uow.commit()
                return f"updated {name}'s OAuth tokens"
            if current is None:
                return None
            changed = current
            if tokens is None or _any_change(options):
                changed = await uow.portals.update(_entry(lambda: _changes(current, options)))
            if tokens is not None:
                if current.auth != "oauth":
                    _entry(lambda: _no_tokens(current))
                await uow.tokens.put(name, **tokens)
            await uow.commit()
            return f"updated {changed.domain} (version {changed.version})"

    done: str | None = _with_store(settings, work)
    if done is None:
        fail(f"portal {name} is not registered", 1)
    click.echo(done)


def _no_tokens(current: PortalRecord) -> None:
    raise entries.InvalidEntry(f"{current.domain} is a webhook portal: no OAuth tokens")


def _any_change(options: dict[str, Any]) -> bool:
    """Whether an option other than the new tokens was given."""
    tokens = {"access_token_env", "refresh_token_env"}
    return any(value not in (None, False) for key, value in options.items() if key not in tokens)


def _changes(current: PortalRecord, options: dict[str, Any]) -> PortalRecord:
    changes: dict[str, Any] = {
        name: options[name]
        for name in (
            "enabled",
            "sweep_interval",
            "repair_policy",
            "repair_budget",
            "owns_voximplant_account",
        )
        if options[name] is not None
    }
    limits = entries.limits(options["plan"], options["bucket"])
    if limits is not None:
        changes |= {
            "plan": limits.plan,
            "bucket_capacity": limits.bucket_capacity,
            "drain_per_second": limits.drain_per_second,
        }
    hook = _webhook(current.domain, options)
    secret = _secret_env("--client-secret-env", options["client_secret_env"])
    if hook is not None:
        if current.auth != "webhook":
            raise entries.InvalidEntry(f"{current.domain} is an OAuth portal: no webhook URL")
        changes["webhook_url"] = hook
    if secret is not None or options["client_id"]:
        if current.auth != "oauth":
            raise entries.InvalidEntry(f"{current.domain} is a webhook portal: no OAuth client")
        changes |= {"client_secret": secret or current.client_secret}
        changes |= {"client_id": options["client_id"] or current.client_id}
    if options["member_id"] is not None:
        if current.auth != "oauth":
            raise entries.InvalidEntry(f"{current.domain} is a webhook portal: no member_id")
        if current.application_token is not None:
            raise entries.InvalidEntry(
                f"{current.domain} is installed: its member_id came with the install"
            )
        changes["member_id"] = entries.member_id(options["member_id"])
    if not changes:
        raise entries.InvalidEntry("nothing to change: give at least one option")
    return replace(current, **changes)


@portals.command()
@env_file_option
@click.argument("domain")
def remove(env_file: Path | None, domain: str) -> None:
    """Remove a portal and its OAuth tokens from the registry."""
    settings = store_settings(env_file)
    name = _entry(lambda: entries.domain(domain))

    async def work(store: Store) -> bool:
        async with store.unit_of_work() as uow:
            removed = await uow.portals.remove(name)
            await uow.commit()
            return removed

    if not _with_store(settings, work):
        fail(f"portal {name} is not registered", 1)
    click.echo(f"removed {name}")
