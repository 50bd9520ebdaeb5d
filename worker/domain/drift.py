"""Configuration drift: does Voximplant register with the server and login the line has?

Bitrix24 copies a line's SERVER and LOGIN into the Voximplant registration's ``proxy`` and
``sip_username``; when they differ, the registration serves settings the line no longer has.

Comparison is on normalised values so that spellings of one registrar are not drift:

* hosts: surrounding whitespace dropped, case folded, a ``sip:``/``sips:``/``http://``/
  ``https://`` scheme, URI parameters (``;transport=udp``), a path and slashes removed, and
  the default SIP port ``:5060`` dropped (``host`` == ``HOST:5060`` == ``sip:host``);
* logins: surrounding whitespace dropped only, since the user part of a SIP URI is
  case-sensitive.

A value missing on either side is not drift: it cannot be compared, and a note says so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from worker.domain.model import Line, VoximplantRegistration
from worker.domain.text import quote

_SCHEMES = ("sips:", "sip:", "https://", "http://")
_DEFAULT_PORT_SUFFIX = ":5060"

_Normaliser = Callable[[str], str]


def normalise_host(value: str) -> str:
    """The registrar host as compared: see the module docstring."""
    host = value.strip().lower()
    for scheme in _SCHEMES:
        if host.startswith(scheme):
            host = host[len(scheme) :]
            break
    host = host.split(";", 1)[0].strip("/").split("/", 1)[0]
    host = host.removesuffix(_DEFAULT_PORT_SUFFIX)
    return host.strip()


def normalise_login(value: str) -> str:
    """The SIP user name as compared: whitespace-trimmed, case kept."""
    return value.strip()


@dataclass(frozen=True, slots=True)
class ConfigComparison:
    """Differences (each one means drift) and notes (fields that could not be compared)."""

    differences: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Pair:
    """One compared field: the line's name and value, Voximplant's name and value."""

    line_field: str
    line_value: str | None
    vox_field: str
    vox_value: str | None


def compare_config(line: Line, vox: VoximplantRegistration) -> ConfigComparison:
    """Compare the line's SERVER/LOGIN with the registration's ``proxy``/``sip_username``."""
    comparison = ConfigComparison()
    pairs = (
        (_Pair("SERVER", line.server, "proxy", vox.proxy), normalise_host),
        (_Pair("LOGIN", line.login, "sip_username", vox.sip_username), normalise_login),
    )
    for pair, normalise in pairs:
        _compare(pair, normalise, comparison)
    return comparison


def _compare(pair: _Pair, normalise: _Normaliser, into: ConfigComparison) -> None:
    line_value = normalise(pair.line_value) if pair.line_value is not None else ""
    vox_value = normalise(pair.vox_value) if pair.vox_value is not None else ""
    if not vox_value:
        into.notes.append(
            f"Voximplant reported no {pair.vox_field}; {pair.line_field} not compared"
        )
    elif not line_value:
        into.notes.append(f"the Bitrix24 line has no {pair.line_field}; not compared")
    elif line_value != vox_value:
        into.differences.append(
            f"{pair.line_field} differs: Bitrix24 has {quote(pair.line_value)}, "
            f"Voximplant has {pair.vox_field} {quote(pair.vox_value)}"
        )
