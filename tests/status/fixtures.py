"""A store holding lines in every interesting state, made by projecting contract events."""

from __future__ import annotations

from contracts.events import Event, Verdict
from tests.projection.events import created, deleted, later, reconciled, swept
from worker.projection import apply_event
from worker.store import Store

DRIFT_FINDING = "Voximplant registers at x.example, the line says sip.example.com"
FAILED_FINDING = "SIP 403 Forbidden from the registrar"


def scenario() -> list[Event]:
    """Two portals: alpha has a drifting, a failing, a fine and a deleted line; beta is fine."""
    return [
        created("alpha.test", 1, "office-main", command_id="cmd-a1"),
        reconciled("alpha.test", 1, Verdict.IN_SYNC, at=later(1)),
        reconciled("alpha.test", 1, Verdict.CONFIG_DRIFT, at=later(5), findings=[DRIFT_FINDING]),
        created("alpha.test", 2, "warehouse", command_id="cmd-a2"),
        reconciled(
            "alpha.test", 2, Verdict.REGISTRATION_FAILED, at=later(6), findings=[FAILED_FINDING]
        ),
        created("alpha.test", 3, "reception", command_id="cmd-a3"),
        reconciled("alpha.test", 3, Verdict.IN_SYNC, at=later(2)),
        created("alpha.test", 4, "old-branch", command_id="cmd-a4"),
        deleted("alpha.test", 4, at=later(3)),
        created("beta.test", 7, "beta-line", command_id="cmd-b7"),
        reconciled("beta.test", 7, Verdict.IN_SYNC, at=later(2)),
        swept("beta.test", at=later(8)),
    ]


async def fill(store: Store, events: list[Event] | None = None) -> None:
    async with store.unit_of_work() as uow:
        for event in events or scenario():
            await apply_event(uow, event)
        await uow.commit()
