"""The cross-check: one line's Bitrix24 view against its Voximplant registration.

Pure: no I/O, no clock. The first rule that applies decides, in this order:

====  ==================================================  =========================
 #    condition                                            outcome
====  ==================================================  =========================
 1    office line, or a line without ``REG_ID``            ``in_sync`` (nothing is
                                                           registered at Voximplant)
 2    Voximplant has no registration with that id          ``missing_registration``
 3    the registration is ``deactivated``                  ``deactivated``
 4    Bitrix24 ``STATUS_RESULT`` is ``wait`` or             pending (``verdict`` None,
      ``in_progress``, or Voximplant is ``in_progress``    not settled)
 5    ``proxy`` != ``SERVER`` or ``sip_username`` !=        ``config_drift``
      ``LOGIN`` (normalised, see ``drift``; a missing
      value is a note, not drift)
 6    Bitrix24 ``success`` and Voximplant successful        ``in_sync``
 7    Bitrix24 ``error`` and Voximplant not successful      ``registration_failed``
                                                           (differing SIP codes noted)
 8    anything else: the sides disagree, Bitrix24 has no    ``status_mismatch``
      status (e.g. ``REG_ID_NOT_FOUND``), its
      ``STATUS_RESULT`` is missing or unknown, or
      Voximplant did not say whether it succeeded
====  ==================================================  =========================

``STATUS_RESULT`` is compared trimmed and case-folded. Findings explain the verdict to a
human; they quote servers, logins, SIP codes and upstream error messages, never a password
(the domain never holds one). A pending check that outlives the settle deadline becomes
``pending_timeout`` through :func:`timed_out`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Literal

from contracts.events import Verdict
from worker.domain.drift import compare_config
from worker.domain.model import (
    KNOWN_STATUS_RESULTS,
    PENDING_STATUS_RESULTS,
    STATUS_SUCCESS,
    Bitrix24Status,
    Line,
    VoximplantRegistration,
)
from worker.domain.text import quote, sip_detail

Side = Literal["bitrix24", "voximplant"]
_SIDE_NAMES: dict[Side, str] = {"bitrix24": "Bitrix24", "voximplant": "Voximplant"}


@dataclass(frozen=True, slots=True, kw_only=True)
class Check:
    """The result of one cross-check.

    ``verdict`` is None while the registration has not settled; ``pending_sides`` then says
    which side is still working, so the caller can re-check later or time out.
    """

    verdict: Verdict | None
    findings: list[str] = field(default_factory=list)
    pending_sides: tuple[Side, ...] = ()

    @property
    def settled(self) -> bool:
        """Whether this check decided a verdict (False: re-check later)."""
        return self.verdict is not None


class _Outcome(Enum):
    WORKS = "works"
    FAILS = "fails"
    UNKNOWN = "unknown"


_STATUS_TABLE: dict[tuple[_Outcome, _Outcome], Verdict] = {
    (_Outcome.WORKS, _Outcome.WORKS): Verdict.IN_SYNC,
    (_Outcome.FAILS, _Outcome.FAILS): Verdict.REGISTRATION_FAILED,
}


def cross_check(
    line: Line, b24: Bitrix24Status | None, vox: VoximplantRegistration | None
) -> Check:
    """Decide the verdict for ``line`` from both sides' reports (rules in the module doc).

    ``b24`` is None when Bitrix24 had no status for the line (``REG_ID_NOT_FOUND``); ``vox``
    is None when Voximplant has no registration with the line's ``REG_ID``.
    """
    if not line.registers_at_voximplant:
        return _office(line)
    if vox is None:
        return _settled(
            Verdict.MISSING_REGISTRATION,
            f"Voximplant has no registration {line.reg_id} (the line's REG_ID)",
        )
    if vox.deactivated:
        return _settled(
            Verdict.DEACTIVATED,
            f"Voximplant registration {vox.sip_registration_id} is deactivated (frozen)",
        )
    pending = _pending(b24, vox)
    if pending is not None:
        return pending
    comparison = compare_config(line, vox)
    if comparison.differences:
        return _settled(Verdict.CONFIG_DRIFT, *comparison.differences, *comparison.notes)
    verdict, findings = _status_verdict(b24, vox)
    return _settled(verdict, *findings, *comparison.notes)


def timed_out(check: Check) -> Check:
    """``pending_timeout`` for a check still pending at the settle deadline.

    A settled check is returned unchanged: its verdict is the better answer.
    """
    if check.settled:
        return check
    sides = ", ".join(_SIDE_NAMES[side] for side in check.pending_sides) or "unknown"
    return Check(
        verdict=Verdict.PENDING_TIMEOUT,
        findings=[f"did not settle before the deadline; still pending: {sides}", *check.findings],
        pending_sides=check.pending_sides,
    )


def _settled(verdict: Verdict, *findings: str) -> Check:
    return Check(verdict=verdict, findings=list(findings))


def _office(line: Line) -> Check:
    if line.line_type == "office":
        reason = "office line: the PBX registers itself, nothing to cross-check at Voximplant"
    else:
        reason = "the line has no REG_ID: no Voximplant registration to cross-check"
    return _settled(Verdict.IN_SYNC, reason)


def _status_result(b24: Bitrix24Status | None) -> str | None:
    if b24 is None or b24.status_result is None:
        return None
    return b24.status_result.strip().lower()


def _pending(b24: Bitrix24Status | None, vox: VoximplantRegistration) -> Check | None:
    sides: list[Side] = []
    findings: list[str] = []
    result = _status_result(b24)
    if result in PENDING_STATUS_RESULTS:
        sides.append("bitrix24")
        findings.append(f"Bitrix24 STATUS_RESULT is {quote(result)}")
    if vox.in_progress:
        sides.append("voximplant")
        findings.append(f"Voximplant registration {vox.sip_registration_id} is still in progress")
    if not sides:
        return None
    return Check(verdict=None, findings=findings, pending_sides=tuple(sides))


def _bitrix24_outcome(b24: Bitrix24Status | None) -> tuple[_Outcome, str]:
    """The Bitrix24 side's outcome and how to describe it in a finding."""
    if b24 is None:
        return _Outcome.UNKNOWN, "Bitrix24 reported no registration status (e.g. REG_ID_NOT_FOUND)"
    detail = sip_detail(b24.status_code, b24.error_message)
    result = _status_result(b24)
    if result is None:
        return _Outcome.UNKNOWN, f"Bitrix24 reported no STATUS_RESULT{detail}"
    if result not in KNOWN_STATUS_RESULTS:
        known = ", ".join(sorted(KNOWN_STATUS_RESULTS))
        return _Outcome.UNKNOWN, (
            f"Bitrix24 STATUS_RESULT {quote(b24.status_result)} is not one of {known}{detail}"
        )
    # Pending values were handled before this runs: only success and error are left.
    outcome = _Outcome.WORKS if result == STATUS_SUCCESS else _Outcome.FAILS
    return outcome, f"Bitrix24 STATUS_RESULT {quote(result)}{detail}"


def _voximplant_outcome(vox: VoximplantRegistration) -> tuple[_Outcome, str]:
    """The Voximplant side's outcome and how to describe it in a finding."""
    detail = sip_detail(vox.status_code, vox.error_message)
    name = f"Voximplant registration {vox.sip_registration_id}"
    if vox.successful is None:
        return _Outcome.UNKNOWN, f"{name} did not report whether it succeeded{detail}"
    if vox.successful:
        return _Outcome.WORKS, f"{name} successful{detail}"
    return _Outcome.FAILS, f"{name} not successful{detail}"


def _status_verdict(
    b24: Bitrix24Status | None, vox: VoximplantRegistration
) -> tuple[Verdict, list[str]]:
    b24_outcome, b24_text = _bitrix24_outcome(b24)
    vox_outcome, vox_text = _voximplant_outcome(vox)
    verdict = _STATUS_TABLE.get((b24_outcome, vox_outcome), Verdict.STATUS_MISMATCH)
    if verdict is Verdict.IN_SYNC:
        return verdict, [f"registration works on both sides: {b24_text}; {vox_text}"]
    if verdict is Verdict.REGISTRATION_FAILED:
        findings = [f"registration fails on both sides: {b24_text}; {vox_text}"]
        findings.extend(_code_difference(b24, vox))
        return verdict, findings
    if _Outcome.UNKNOWN in (b24_outcome, vox_outcome):
        return verdict, [f"cannot confirm the registration: {b24_text}; {vox_text}"]
    return verdict, [f"the sides disagree: {b24_text}; {vox_text}"]


def _code_difference(b24: Bitrix24Status | None, vox: VoximplantRegistration) -> list[str]:
    b24_code = b24.status_code if b24 is not None else None
    if b24_code is None or vox.status_code is None or b24_code == vox.status_code:
        return []
    return [f"SIP status codes differ: Bitrix24 {b24_code}, Voximplant {vox.status_code}"]
