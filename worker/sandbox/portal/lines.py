"""The ``voximplant.sip.*`` methods and the lines they keep, with the documented rules.

Titles are unique per portal; a portal holds at most ``cloud_pbx_limit`` cloud lines; each
cloud line owns a registration in the shared :class:`RegistrationStore` (the sandbox
Voximplant account reads the same one); a line is visible only to the application that
made it (webhooks and the UI count as no application).
"""

from __future__ import annotations

import itertools
import random
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from worker.sandbox.portal.errors import ApiError, check_fields
from worker.sandbox.portal.options import PortalOptions
from worker.sandbox.registrations import RegistrationStore

_SCHEME = re.compile(r"^https?://", re.IGNORECASE)
MAX_CREDENTIAL = 100
MAX_TITLE = 255


@dataclass(slots=True)
class Line:
    """One SIP line of the portal."""

    id: int
    config_id: int
    line_type: str
    title: str
    server: str
    login: str
    password: str
    app_id: str | None
    reg_id: int | None = None
    incoming_login: str = ""
    incoming_password: str = ""


@dataclass(frozen=True, slots=True)
class Page:
    """A method's result, with ``total``/``next`` for list methods."""

    result: Any
    total: int | None = None
    next: int | None = None


def _text(params: Mapping[str, Any], key: str) -> str | None:
    value = params.get(key)
    return None if value is None else str(value).strip()


def _int(params: Mapping[str, Any], key: str) -> int | None:
    try:
        return int(str(params[key]))
    except (KeyError, ValueError):
        return None


class LineBook:
    """The portal's lines and the methods on them."""

    def __init__(
        self,
        *,
        options: PortalOptions,
        registrations: RegistrationStore,
        rng: random.Random | None = None,
    ) -> None:
        self.options = options
        self.registrations = registrations
        self.lines: dict[int, Line] = {}
        self._ids = itertools.count(1)
        self._config_ids = itertools.count(101)
        self._rng = rng or random.Random(options.seed)  # noqa: S311 - page order, not security

    # --- helpers --------------------------------------------------------------------
    def _visible(self, app_id: str | None) -> list[Line]:
        return [line for line in self.lines.values() if line.app_id == app_id]

    def _find(self, params: Mapping[str, Any], app_id: str | None, status: int) -> Line:
        config_id = _int(params, "CONFIG_ID")
        if config_id is None and "CONFIG_ID" not in params:
            raise check_fields("CONFIG_ID is required")
        line = self.lines.get(config_id) if config_id is not None else None
        if line is None or line.app_id != app_id:
            raise ApiError("ERROR_NOT_FOUND", "Specified CONFIG_ID is not found", status)
        return line

    def _check_title(self, title: str, except_id: int | None = None) -> None:
        if not title or len(title) > MAX_TITLE:
            raise check_fields("TITLE is empty or too long")
        for line in self.lines.values():
            if line.config_id != except_id and line.title.lower() == title.lower():
                raise ApiError("TITLE_EXISTS", "Line with the same title already exists")

    @staticmethod
    def _check_credentials(server: str, login: str, password: str) -> None:
        if not server:
            raise check_fields("SERVER is required")
        if not login:
            raise check_fields("LOGIN is required")
        if len(server) > MAX_CREDENTIAL or len(login) > MAX_CREDENTIAL:
            raise check_fields("SERVER or LOGIN is longer than 100 characters")
        if len(password) > MAX_CREDENTIAL:
            raise check_fields("PASSWORD is longer than 100 characters")

    def describe(self, line: Line, *, as_strings: bool = False) -> dict[str, Any]:
        """The line as ``add`` (numbers) or ``get`` (strings) returns it."""
        reg = self.registrations.get(line.reg_id) if line.reg_id is not None else None
        view = self.registrations.bitrix24_view(reg) if reg is not None else None
        record: dict[str, Any] = {
            "ID": line.id,
            "CONFIG_ID": line.config_id,
            "TYPE": line.line_type,
            "REG_ID": line.reg_id,
            "TITLE": line.title,
            "SERVER": line.server,
            "LOGIN": line.login,
            "PASSWORD": line.password,
            "AUTH_USER": "",
            "OUTBOUND_PROXY": "",
            "REGISTRATION_STATUS_CODE": view.status_code if view else None,
            "REGISTRATION_ERROR_MESSAGE": view.error_message if view else "",
        }
        if line.line_type == "office":
            record.update(
                INCOMING_SERVER=f"ip.{self.options.domain}",
                INCOMING_LOGIN=line.incoming_login,
                INCOMING_PASSWORD=line.incoming_password,
            )
        if as_strings:
            return {k: "" if v is None else str(v) for k, v in record.items()}
        return record

    # --- the methods ----------------------------------------------------------------
    def add(self, params: Mapping[str, Any], app_id: str | None) -> Page:
        line_type = (_text(params, "TYPE") or "cloud").lower()
        if line_type not in ("cloud", "office"):
            raise check_fields("TYPE must be cloud or office")
        server = _SCHEME.sub("", _text(params, "SERVER") or "")
        login = _text(params, "LOGIN") or ""
        password = str(params.get("PASSWORD") or "")
        self._check_credentials(server, login, password)
        title = _text(params, "TITLE") or server
        self._check_title(title)
        clouds = sum(1 for line in self.lines.values() if line.line_type == "cloud")
        if line_type == "cloud" and clouds >= self.options.cloud_pbx_limit:
            limit = self.options.cloud_pbx_limit
            raise ApiError("MAX_CLOUD_PBX", f"You cannot connect more than {limit} cloud PBX")
        config_id = next(self._config_ids)
        line = Line(next(self._ids), config_id, line_type, title, server, login, password, app_id)
        if line_type == "cloud":
            line.reg_id = self.registrations.create(server, login, password).reg_id
        else:
            line.incoming_login = f"sip{config_id}"
            line.incoming_password = secrets.token_hex(6)
        self.lines[config_id] = line
        return Page(self.describe(line))

    def update(self, params: Mapping[str, Any], app_id: str | None) -> Page:
        line = self._find(params, app_id, status=404)
        changes = {k: params[k] for k in ("TITLE", "SERVER", "LOGIN", "PASSWORD") if k in params}
        if not changes:
            raise check_fields("One of TITLE, SERVER, LOGIN, PASSWORD is required")
        title = _text(changes, "TITLE")
        if title is not None:
            self._check_title(title, except_id=line.config_id)
        server = _SCHEME.sub("", _text(changes, "SERVER") or line.server)
        login = _text(changes, "LOGIN") or line.login
        password = str(changes.get("PASSWORD", line.password))
        self._check_credentials(server, login, password)
        pushed = any(k in changes for k in ("SERVER", "LOGIN", "PASSWORD"))
        line.title = title or line.title
        line.server, line.login, line.password = server, login, password
        if pushed and line.line_type == "cloud":
            # Bitrix24 sends the line's whole configuration to Voximplant again whenever
            # one of these is given, changed or not, and a re-registration follows: this
            # is what heals a registration Voximplant drifted on or lost.
            if line.reg_id is not None and self.registrations.get(line.reg_id):
                self.registrations.reregister(line.reg_id, server, login, password)
            else:
                line.reg_id = self.registrations.create(server, login, password).reg_id
        return Page(1)

    def delete(self, params: Mapping[str, Any], app_id: str | None) -> Page:
        line = self._find(params, app_id, status=400)
        if line.reg_id is not None:
            if self.registrations.get(line.reg_id) is None:
                raise ApiError("REG_ID_NOT_FOUND", "SIP registration cannot be removed")
            self.registrations.remove(line.reg_id)
        del self.lines[line.config_id]
        return Page(1)

    def get(self, params: Mapping[str, Any], app_id: str | None) -> Page:
        """A page of 50 lines, with ``total`` and ``next``, as Bitrix24 lists.

        Ordered by ``SORT`` (a field) and ``ORDER`` (ASC/DESC), or by a map such as
        ``ORDER[ID]=ASC``; with neither, the order is the database's: stable here, unless
        the portal's ``unordered_pages_shuffle`` makes every unordered request come in a new
        order, so that paging without an order repeats and skips rows as it can on Bitrix24.
        ``start=-1`` gives the first page without counting (no ``total``, no ``next``); a
        filter such as ``>ID`` then pages by key.
        """
        records = [self.describe(line, as_strings=True) for line in self._visible(app_id)]
        wanted = params.get("FILTER")
        if isinstance(wanted, Mapping):
            conditions = [_condition(str(k), str(v)) for k, v in wanted.items()]
            records = [r for r in records if all(test(r) for test in conditions)]
        ordering = _ordering(params)
        if ordering is not None:
            field, descending = ordering
            records.sort(key=lambda r: _sort_key(r.get(field, "")), reverse=descending)
        else:
            records.sort(key=lambda r: _sort_key(r["CONFIG_ID"]))
            if self.options.unordered_pages_shuffle:
                self._rng.shuffle(records)
        start = _int(params, "START") or 0
        size = self.options.page_size
        if start < 0:
            return Page(records[:size])
        page = records[start : start + size]
        more = start + size < len(records)
        return Page(page, total=len(records), next=start + size if more else None)

    def every_line(self) -> list[dict[str, Any]]:
        """Every line, whichever caller made it (a webhook or an application sees only its
        own), as ``get`` lists them without the password, with ``APP``: the application's
        client id, empty for a webhook's line. For tests: the portal's state as it is."""
        records = []
        for line in sorted(self.lines.values(), key=lambda one: one.config_id):
            record = self.describe(line, as_strings=True)
            del record["PASSWORD"]
            records.append({**record, "APP": line.app_id or ""})
        return records

    def status(self, params: Mapping[str, Any], app_id: str | None) -> Page:
        reg_id = _int(params, "REG_ID")
        if reg_id is None:
            raise check_fields("REG_ID is required")
        owned = any(line.reg_id == reg_id for line in self._visible(app_id))
        reg = self.registrations.get(reg_id) if owned else None
        if reg is None:
            raise ApiError("REG_ID_NOT_FOUND", "SIP registration is not found")
        view = self.registrations.bitrix24_view(reg)
        return Page(
            {
                "REG_ID": str(view.reg_id),
                "LAST_UPDATED": view.last_updated,
                "ERROR_MESSAGE": view.error_message,
                "STATUS_CODE": "" if view.status_code is None else str(view.status_code),
                "STATUS_RESULT": view.status_result,
            }
        )

    def connector_status(self, params: Mapping[str, Any], app_id: str | None) -> Page:
        result: dict[str, Any] = {
            "FREE_MINUTES": self.options.connector_free_minutes,
            "PAID": self.options.connector_paid,
        }
        if self.options.connector_paid:
            result["PAID_DATE_END"] = "2099-12-31T00:00:00+03:00"
        return Page(result)


_OPERATORS = (">=", "<=", "!=", ">", "<", "=", "!")


def _condition(key: str, wanted: str) -> Callable[[Mapping[str, Any]], bool]:
    """One ``FILTER`` entry: ``TITLE``, ``=TITLE``, ``>ID``, ``<=CONFIG_ID``, ``!TYPE`` …"""
    operator = next((op for op in _OPERATORS if key.startswith(op)), "=")
    field = key[len(operator) :].upper() if key.startswith(operator) else key.upper()

    def test(record: Mapping[str, Any]) -> bool:
        have = str(record.get(field, ""))
        if operator in ("=",):
            return have == wanted
        if operator in ("!", "!="):
            return have != wanted
        left, right = _sort_key(have), _sort_key(wanted)
        return {
            ">": left > right,
            "<": left < right,
            ">=": left >= right,
            "<=": left <= right,
        }[operator]

    return test


def _ordering(params: Mapping[str, Any]) -> tuple[str, bool] | None:
    """(field, descending) from ``SORT``/``ORDER``, or None when the caller gave no order."""
    sort, order = params.get("SORT"), params.get("ORDER")
    for given in (order, sort):
        if isinstance(given, Mapping) and given:
            field, direction = next(iter(given.items()))
            return str(field).upper(), str(direction).strip().upper() == "DESC"
    if sort is None and order is None:
        return None
    field = str(sort).strip().upper() if isinstance(sort, str) and sort.strip() else "CONFIG_ID"
    direction = str(order).strip().upper() if isinstance(order, str) else "ASC"
    return field, direction == "DESC"


def _sort_key(value: str) -> tuple[int, int, str]:
    return (0, int(value), "") if value.isdigit() else (1, 0, value.lower())
