"""The create lookup the ``line.create`` handler asks (:class:`worker.handlers.ports.CreatedLines`),
answered from the store's record of command id → line, which the line projection fills
from ``line.created`` events (:func:`worker.projection.apply_events`)."""

from __future__ import annotations

from dataclasses import dataclass

from worker.store.ports import Store


@dataclass(frozen=True, slots=True)
class StoreCreatedLines:
    store: Store

    async def made_by(self, command_id: str) -> tuple[str, int] | None:
        """(portal, config_id) of the line ``command_id`` created, as projected; a store
        that cannot answer raises :class:`~worker.store.StoreUnavailable` (transient)."""
        async with self.store.unit_of_work(readonly=True) as uow:
            return await uow.creates.find(command_id)
