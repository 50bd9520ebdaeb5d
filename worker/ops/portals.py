"""The portal registry as an operator sees it: records built from options, masked views.

The CLI (:mod:`worker.cli.portals`) parses and prints; this module decides what a portal
entry may hold and what of it may ever be shown. Secrets are shown as ``set``/``unset`` or,
for a webhook URL, with its code masked (``https://host/rest/1/***/``): never in clear.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from pydantic import SecretStr

from worker.adapters.bitrix24.redact import mask_url
from worker.status.views import reauthorization_json
from worker.store import PortalRecord, TokenRecord

# a portal's member_id (Bitrix24 sends 32 hex digits; any id of this shape is accepted)
MEMBER_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
DOMAIN = re.compile(
    r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$"
)
BUCKET = re.compile(r"^(\d+)/(\d+(?:\.\d+)?)$")
WEBHOOK_PATH = re.compile(r"^/rest/\d+/[^/]+/?$")


class InvalidEntry(ValueError):
    """An option value a portal entry cannot hold; the message never quotes a secret."""


def domain(value: str) -> str:
    name = value.strip().lower()
    if not DOMAIN.fullmatch(name):
        raise InvalidEntry(f"{value!r} is not a portal domain (e.g. example.bitrix24.ru)")
    return name


def member_id(value: str) -> str:
    """A Bitrix24 account's ``member_id``, as its install callback carries it."""
    if not MEMBER_ID.fullmatch(value):
        raise InvalidEntry("--member-id: expected letters, digits, _ or - (at most 64)")
    return value


def bucket(value: str) -> tuple[int, float]:
    """``N/RATE``: a leaky bucket of N requests draining RATE per second."""
    match = BUCKET.fullmatch(value.strip())
    if match is None or int(match[1]) < 1 or float(match[2]) <= 0:
        raise InvalidEntry(f"--bucket {value!r}: expected N/RATE, e.g. 50/2 or 250/5")
    return int(match[1]), float(match[2])


def webhook_url(value: str, *, portal: str) -> SecretStr:
    """A webhook base URL: ``https://HOST/rest/USER_ID/CODE/``.

    The host is usually the portal's domain, but need not be (a portal's own domain name,
    the sandbox on 127.0.0.1), so it is not compared with ``portal``.
    """
    parts = urlsplit(value.strip())
    if parts.scheme not in ("https", "http") or not WEBHOOK_PATH.fullmatch(parts.path):
        raise InvalidEntry("the webhook URL must look like https://PORTAL/rest/USER_ID/CODE/")
    if not parts.hostname:
        raise InvalidEntry(f"the webhook URL of {portal} names no host")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise InvalidEntry("the webhook URL must have no query, fragment or user info")
    return SecretStr(value.strip().rstrip("/") + "/")


@dataclass(frozen=True, slots=True)
class Limits:
    plan: str
    bucket_capacity: int | None
    drain_per_second: float | None


def limits(plan: str | None, bucket_option: str | None) -> Limits | None:
    """``--plan`` or ``--bucket`` (not both); None when neither was given."""
    if plan is not None and bucket_option is not None:
        raise InvalidEntry("give --plan or --bucket, not both")
    if bucket_option is not None:
        capacity, drain = bucket(bucket_option)
        return Limits("custom", capacity, drain)
    if plan is not None:
        return Limits(plan, None, None)
    return None


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat(timespec="seconds")


def view(portal: PortalRecord, tokens: TokenRecord | None = None) -> dict[str, Any]:
    """Everything about a portal that may be shown: secrets masked or reduced to set/unset."""
    capacity, drain = portal.bucket()
    shown: dict[str, Any] = {
        "domain": portal.domain,
        "auth": portal.auth,
        "enabled": portal.enabled,
        "plan": portal.plan,
        "bucket": f"{capacity}/{drain:g}",
        "webhook_url": None
        if portal.webhook_url is None
        else mask_url(portal.webhook_url.get_secret_value()),
        "client_id": portal.client_id,
        "client_secret": "set" if portal.client_secret is not None else None,
        "rest_url": portal.rest_url,
        "oauth_server_url": portal.oauth_server_url if portal.auth == "oauth" else None,
        "member_id": portal.member_id,
        "application_token": "set" if portal.application_token is not None else None,
        "sweep_interval": portal.sweep_interval,
        "repair_policy": portal.repair_policy,
        "repair_budget": portal.repair_budget,
        "owns_voximplant_account": portal.owns_voximplant_account,
        "created_at": _time(portal.created_at),
        "updated_at": _time(portal.updated_at),
        "version": portal.version,
    }
    if portal.auth == "oauth":
        shown["tokens"] = (
            None
            if tokens is None
            else {
                "access_token": "set",
                "refresh_token": "set",
                "expires_at": _time(tokens.expires_at),
                "generation": tokens.generation,
                "refresh_in_flight": _intent(tokens),
            }
        )
        shown["reauthorization"] = reauthorization_json(tokens)
    return shown


def _intent(tokens: TokenRecord) -> dict[str, Any] | None:
    intent = tokens.in_flight
    if intent is None:
        return None
    return {
        "by": intent.owner,
        "since": _time(intent.started_at),
        "lease_until": _time(intent.lease_until),
        "refresh_token_fingerprint": intent.fingerprint,
    }
