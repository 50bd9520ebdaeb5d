"""Drive a running sandbox account from another process (the CLI, a demo script).

Thin wrappers over the ``/_sandbox/…`` routes, so that ``sipline sandbox`` sub-commands
can inject divergences and faults without knowing the URLs.  The caller owns the session.
"""

from __future__ import annotations

from typing import Any

import aiohttp

__all__ = [
    "AdminError",
    "admit",
    "clear_faults",
    "converge",
    "diverge",
    "inject_fault",
    "refuse",
    "stats",
]


class AdminError(Exception):
    """The sandbox refused an admin request (unknown registration, bad field)."""


async def diverge(
    session: aiohttp.ClientSession, admin_url: str, reg_id: int, **changes: object
) -> None:
    """``POST /_sandbox/registrations/{reg_id}/diverge`` with ``changes``."""
    await _send(session, "POST", f"{_base(admin_url)}registrations/{reg_id}/diverge", changes)


async def converge(session: aiohttp.ClientSession, admin_url: str, reg_id: int) -> None:
    """Report the truth for ``reg_id`` again."""
    await _send(session, "DELETE", f"{_base(admin_url)}registrations/{reg_id}/diverge", None)


async def refuse(
    session: aiohttp.ClientSession,
    admin_url: str,
    reg_id: int,
    *,
    status_code: int = 403,
    error_message: str = "Forbidden",
) -> None:
    """The registrar refuses ``reg_id`` from now on: it fails on both sides, for real."""
    body: dict[str, object] = {"status_code": status_code, "error_message": error_message}
    await _send(session, "POST", f"{_base(admin_url)}registrations/{reg_id}/refuse", body)


async def admit(session: aiohttp.ClientSession, admin_url: str, reg_id: int) -> None:
    """The registrar judges ``reg_id`` by its rules again (it re-registers now)."""
    await _send(session, "DELETE", f"{_base(admin_url)}registrations/{reg_id}/refuse", None)


async def inject_fault(session: aiohttp.ClientSession, admin_url: str, **spec: object) -> None:
    """``POST /_sandbox/faults``: ``latency=``, or ``kind=`` with ``status``/``code``/``times``."""
    await _send(session, "POST", f"{_base(admin_url)}faults", spec)


async def clear_faults(session: aiohttp.ClientSession, admin_url: str) -> None:
    await _send(session, "DELETE", f"{_base(admin_url)}faults", None)


async def stats(session: aiohttp.ClientSession, admin_url: str) -> dict[str, int]:
    """The account's counters: requests, signatures_verified, faults_served."""
    body = await _send(session, "GET", f"{_base(admin_url)}stats", None)
    return {str(k): int(v) for k, v in body.items()}


def _base(admin_url: str) -> str:
    return admin_url if admin_url.endswith("/") else admin_url + "/"


async def _send(
    session: aiohttp.ClientSession, verb: str, url: str, body: dict[str, object] | None
) -> dict[str, Any]:
    async with session.request(verb, url, json=body) as response:
        payload = await response.json(content_type=None)
        if response.status != 200:
            error = payload.get("error") if isinstance(payload, dict) else None
            raise AdminError(f"{verb} {url}: HTTP {response.status}: {error}")
        return payload if isinstance(payload, dict) else {}
