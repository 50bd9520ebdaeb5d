"""The repair ledger (``worker.handlers.ports.RepairLedger``): in the store, or in memory.

With a store, every process serving a portal spends one budget per line: the unit of work
locks the line's ledger row, so two processes repairing the same line at once take turns
and the hourly budget holds across processes and restarts. Without a store
(``sipline run`` with ``SIPLINE_PORTALS`` only) the ledger lives in the process: a restart
forgets it, so a line can be repaired ``budget`` more times after each restart; several
processes each keep their own (documented in docs/operations.md).
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import replace
from typing import Any

from contracts.events import ReappliedField, Verdict
from worker.domain.repair import RepairNote, Spent, note_is_current, spend
from worker.store.ports import Store
from worker.store.records import RepairRecord

logger = logging.getLogger(__name__)

_FIELDS: frozenset[str] = frozenset({"title", "server", "login"})


def note_to_json(note: RepairNote) -> dict[str, Any]:
    return {
        "verdict": note.verdict.value,
        "findings": list(note.findings),
        "server": note.server,
        "login": note.login,
        "fields": list(note.fields),
        "at": note.at,
        "used": note.used,
        "budget": note.budget,
    }


def note_from_json(value: dict[str, Any]) -> RepairNote | None:
    """The note a row holds; None (and a warning) for one this version cannot read."""
    try:
        fields: tuple[ReappliedField, ...] = tuple(
            f for f in value.get("fields", []) if f in _FIELDS
        )
        return RepairNote(
            verdict=Verdict(value["verdict"]),
            findings=tuple(str(f) for f in value.get("findings", [])),
            server=value.get("server"),
            login=value.get("login"),
            fields=fields,
            at=float(value["at"]),
            used=int(value.get("used", 1)),
            budget=int(value.get("budget", 0)),
        )
    except (KeyError, TypeError, ValueError):
        logger.warning("a repair note of an unknown shape was dropped")
        return None


class MemoryRepairLedger:
    """The ledger of one process (no store): forgotten at exit."""

    def __init__(self) -> None:
        self._history: dict[tuple[str, int], tuple[float, ...]] = {}
        self._notes: dict[tuple[str, int], RepairNote] = {}

    async def spend(
        self, portal: str, config_id: int, *, now: float, budget: int, note: RepairNote
    ) -> Spent:
        key = (portal.lower(), config_id)
        spent, kept = spend(self._history.get(key, ()), now=now, budget=budget)
        self._history[key] = kept
        if spent.granted:
            self._notes[key] = replace(note, used=spent.used)
        return spent

    async def settle(
        self, portal: str, config_ids: Collection[int], *, now: float
    ) -> dict[int, RepairNote]:
        domain = portal.lower()
        found: dict[int, RepairNote] = {}
        for config_id in config_ids:
            note = self._notes.pop((domain, config_id), None)
            if note is not None and note_is_current(note, now=now):
                found[config_id] = note
        return found


class StoreRepairLedger:
    """The ledger in the store, shared by every process."""

    def __init__(self, *, store: Store) -> None:
        self._store = store

    async def spend(
        self, portal: str, config_id: int, *, now: float, budget: int, note: RepairNote
    ) -> Spent:
        async with self._store.unit_of_work() as uow:
            record = await uow.repairs.lock(portal, config_id)
            spent, kept = spend(record.history, now=now, budget=budget)
            if kept != record.history or spent.granted:
                await uow.repairs.put(
                    RepairRecord(
                        record.portal,
                        config_id,
                        kept,
                        note_to_json(replace(note, used=spent.used))
                        if spent.granted
                        else record.note,
                    )
                )
            await uow.commit()
        return spent

    async def settle(
        self, portal: str, config_ids: Collection[int], *, now: float
    ) -> dict[int, RepairNote]:
        ids = sorted(set(config_ids))
        if not ids:
            return {}
        async with self._store.unit_of_work(readonly=True) as uow:
            raw = await uow.repairs.notes(portal, ids)
        if not raw:  # the common case: one read, no write lock
            return {}
        async with self._store.unit_of_work() as uow:
            raw = await uow.repairs.notes(portal, sorted(raw))
            await uow.repairs.clear_notes(portal, sorted(raw))
            await uow.commit()
        found: dict[int, RepairNote] = {}
        for config_id, value in raw.items():
            note = note_from_json(value)
            if note is not None and note_is_current(note, now=now):
                found[config_id] = note
        return found
