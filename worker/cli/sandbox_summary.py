"""The summary ``sipline sandbox`` prints at start: addresses, limits, accepted credentials
and the next commands to run. Webhook codes are masked; OAuth secrets and tokens are left
out (the env file has them)."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from worker.sandbox.stack import Sandbox

__all__ = ["Layout", "summary"]


@dataclass(frozen=True, slots=True)
class Layout:
    """Where the sandbox listens and what it writes."""

    host: str
    advertise_host: str | None
    bitrix24_port: int
    voximplant_port: int
    state_dir: Path
    env_file: Path
    json_file: Path | None = None


def _masked(url: str) -> str:
    return re.sub(r"(/rest/\d+/)[^/]+", r"\1***", url)


SHOWN_PORTALS = 3


def _portal_lines(sandbox: Sandbox, entries: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    if sandbox.host is not None:
        origin = sandbox.describe()["portal_host_admin_url"].removesuffix("/_sandbox/host/")
        lines.append(f"  Bitrix24 portals {len(entries)} on {origin}/p/DOMAIN/")
    for index, (domain, entry) in enumerate(entries.items()):
        if index == SHOWN_PORTALS and len(entries) > SHOWN_PORTALS + 1:
            lines.append(f"  … and {len(entries) - SHOWN_PORTALS} more portals (the env file)")
            break
        portal = sandbox.portal(domain)
        lines.append(f"  Bitrix24 portal  {domain}")
        if "webhook_url" in entry:
            lines.append(f"    webhook        {_masked(entry['webhook_url'])}")
        if "oauth" in entry:
            oauth = entry["oauth"]
            lines.append(f"    OAuth REST     {oauth['rest_url']}")
            lines.append(f"    OAuth token    {oauth['server_url']}")
            lines.append(
                f"    OAuth app      {oauth['client_id']} (secret and tokens in the env file), "
                f"access tokens live {portal.oauth.access_token_ttl:g} s"
            )
        lines.append(
            f"    limits         bucket {portal.bucket.capacity} @ "
            f"{portal.bucket.drain_per_second:g}/s, "
            f"{portal.options.cloud_pbx_limit} cloud PBX lines"
        )
        faults = {k: v for k, v in portal.faults.as_dict().items() if v}
        if faults:
            lines.append(f"    faults         {faults}")
    return lines


def _rule_lines(sandbox: Sandbox) -> list[str]:
    from worker.sandbox.registrations import DEFAULT_PASSWORD

    lines = []
    for rule in sandbox.store.rules:
        login = "any login" if rule.login == "*" else f"login {rule.login}"
        password = (
            f"password {rule.password}"
            if rule.password == DEFAULT_PASSWORD
            else "the password given to --accept"
        )
        lines.append(f"  accepts          server {rule.server}, {login}, {password}")
    return lines


def _callbacks(sandbox: Sandbox) -> str:
    url = sandbox.account.callback_url
    if url is None:
        return "off (set one: sipline sandbox-ctl callback --url URL)"
    salted = "with a salt" if sandbox.account.callback_salt else "without a salt"
    return f"POSTed to {url}, signed {salted} (api key in the env file)"


def summary(sandbox: Sandbox, layout: Layout) -> str:
    """What an operator needs to use the sandbox; every secret is masked or left out."""
    env = shlex.quote(str(layout.env_file))
    rule = sandbox.store.rules[0]
    login = "100" if rule.login == "*" else rule.login
    values = sandbox.settings()
    lines = [
        "sipline sandbox is running; stop it with Ctrl-C or SIGTERM.",
        "",
        *_portal_lines(sandbox, values["portals"]),
        f"  Voximplant API   {values['voximplant_api_url']}",
        f"  credentials      {values['voximplant_credentials']}",
        f"  callbacks        {_callbacks(sandbox)}",
        f"  env file         {layout.env_file} (mode 0600; holds the secrets)",
        *([f"  JSON file        {layout.json_file} (mode 0600)"] if layout.json_file else []),
        *_rule_lines(sandbox),
        f"  registration     waits {sandbox.store.wait_seconds:g} s, "
        f"then in progress {sandbox.store.progress_seconds:g} s",
        "",
        "Run a worker against it:",
        f"  sipline run --env-file {env}",
        "Create a line (the password is prompted for, hidden):",
        f"  sipline send line.create --env-file {env} "
        f"--portal {sandbox.portals[0].options.domain} --title 'Line 1' "
        f"--server {shlex.quote(rule.server)} --login {shlex.quote(login)} --wait",
        "Steer it:",
        f"  sipline sandbox-ctl stats --env-file {env}",
    ]
    return "\n".join(lines)
