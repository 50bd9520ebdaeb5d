"""``GetSipRegistrations`` over the shared :class:`RegistrationStore`.

Parameters arrive as strings (form or query); booleans are accepted in any letter case,
lists are ``;``-separated and ``status_code`` takes ``200``, ``400:499`` and ``401;403``
forms, as documented.  Bad values answer 101.  The sandbox's registrations are bound to no
application, rule or user, so those filters match nothing (and
``is_bound_to_application=false`` matches everything).  ``count`` above the maximum page
size is silently capped: Voximplant documents no maximum, so the client must not rely on
getting more than it asked for, nor on an error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from worker.sandbox.registrations import RegistrationStore, VoximplantView
from worker.sandbox.voximplant.verifier import ApiError

__all__ = ["get_sip_registrations", "render"]

Predicate = Callable[[VoximplantView], bool]

_BOOL_FIELDS = ("deactivated", "successful", "is_persistent", "in_progress")
_UNBOUND = ("application_id", "application_name", "rule_id", "rule_name", "user_id", "user_name")
IS_PERSISTENT = True


@dataclass(frozen=True, slots=True)
class Paging:
    count: int
    offset: int


def get_sip_registrations(
    store: RegistrationStore,
    params: Mapping[str, str],
    *,
    default_page_size: int,
    max_page_size: int,
) -> dict[str, Any]:
    """The response body for these request parameters."""
    predicates = _predicates(params)
    paging = Paging(
        count=min(_int(params, "count", default_page_size), max_page_size),
        offset=_int(params, "offset", 0),
    )
    views: Iterable[VoximplantView | None] = store.voximplant_all()
    if "sip_registration_id" in params:
        views = [store.voximplant_one(_int(params, "sip_registration_id", 0))]
    matching = (v for v in views if v is not None and all(p(v) for p in predicates))
    page = [render(v) for i, v in enumerate(matching) if i >= paging.offset][: paging.count]
    return {"result": page, "count": len(page)}


def render(view: VoximplantView) -> dict[str, Any]:
    """A SIPRegistration object as the API returns it."""
    return {
        "sip_registration_id": view.sip_registration_id,
        "sip_username": view.sip_username,
        "proxy": view.proxy,
        "auth_user": view.auth_user,
        "outbound_proxy": view.outbound_proxy,
        "successful": view.successful,
        "status_code": view.status_code,
        "error_message": view.error_message,
        "deactivated": view.deactivated,
        "is_persistent": IS_PERSISTENT,
        "last_updated": view.last_updated,
        "purchase_date": None,
        "next_subscription_renewal": None,
        "subscription_price": "0.0000",
    }


def _predicates(params: Mapping[str, str]) -> list[Predicate]:
    found: list[Predicate] = []
    if "sip_registration_id" in params:
        wanted_id = _int(params, "sip_registration_id", 0)
        found.append(lambda v: v.sip_registration_id == wanted_id)
    if params.get("sip_username"):
        username = params["sip_username"]
        found.append(lambda v: v.sip_username == username)
    for name in _BOOL_FIELDS:
        if name in params:
            found.append(_bool_predicate(name, _bool(params, name)))
    if "is_bound_to_application" in params and _bool(params, "is_bound_to_application"):
        found.append(lambda v: False)
    if any(params.get(name) for name in _UNBOUND):
        found.append(lambda v: False)
    if params.get("proxy"):
        proxies = {p.strip().lower() for p in params["proxy"].split(";") if p.strip()}
        found.append(lambda v: v.proxy.lower() in proxies)
    if params.get("status_code"):
        ranges = _status_ranges(params["status_code"])
        found.append(
            lambda v: (
                v.status_code is not None and any(lo <= v.status_code <= hi for lo, hi in ranges)
            )
        )
    return found


def _bool_predicate(name: str, wanted: bool) -> Predicate:
    if name == "in_progress":
        return lambda v: v.in_progress == wanted
    if name == "is_persistent":
        return lambda v: wanted == IS_PERSISTENT
    return lambda v: bool(getattr(v, name)) == wanted


def _bool(params: Mapping[str, str], name: str) -> bool:
    value = params[name].strip().lower()
    if value not in ("true", "false"):
        raise ApiError(101, f"Invalid arguments: {name} must be true or false")
    return value == "true"


def _int(params: Mapping[str, str], name: str, default: int) -> int:
    raw = params.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit():
        raise ApiError(101, f"Invalid arguments: {name} must be a non-negative integer")
    return int(raw)


def _status_ranges(spec: str) -> list[tuple[int, int]]:
    ranges: list[tuple[int, int]] = []
    for part in spec.split(";"):
        low, _, high = part.strip().partition(":")
        if not low.isdigit() or (high and not high.isdigit()):
            raise ApiError(101, "Invalid arguments: status_code")
        ranges.append((int(low), int(high or low)))
    return ranges
