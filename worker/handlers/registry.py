"""The handler for each command type, built from the ports and the settings."""

from __future__ import annotations

import time

from worker.domain.settle import SettlePlan
from worker.handlers.checking import Clock, LineChecker
from worker.handlers.lines import CreateLine, DeleteLine, ReconcileLine, UpdateLine
from worker.handlers.ports import (
    CreatedLines,
    Portals,
    Registrations,
    RepairLedger,
    RepairObserver,
)
from worker.handlers.repairing import Repairs
from worker.handlers.sweep import SweepPortal
from worker.runtime.handler import CommandHandler
from worker.settings import Settings


def build_handlers(
    *,
    portals: Portals,
    registrations: Registrations,
    settings: Settings,
    clock: Clock = time.time,
    repairs: RepairLedger | None = None,
    repair_observer: RepairObserver | None = None,
    created_lines: CreatedLines | None = None,
) -> dict[str, CommandHandler]:
    """``repairs``: the repair ledger; without one no portal is repaired, whatever its
    policy says. ``created_lines``: the store's command id → line record (a worker with a
    store), so a redelivered ``line.create`` finds its line even after a rename."""
    plan = SettlePlan(intervals=tuple(settings.settle_intervals), deadline=settings.settle_deadline)
    repair_step = (
        None
        if repairs is None
        else Repairs(
            portals=portals, ledger=repairs, plan=plan, clock=clock, observer=repair_observer
        )
    )
    checker = LineChecker(registrations=registrations, plan=plan, clock=clock, repairs=repair_step)
    return {
        "line.create": CreateLine(portals=portals, checker=checker, created=created_lines),
        "line.update": UpdateLine(portals=portals, checker=checker),
        "line.delete": DeleteLine(portals=portals, registrations=registrations),
        "line.reconcile": ReconcileLine(portals=portals, checker=checker),
        "portal.sweep": SweepPortal(
            portals=portals,
            registrations=registrations,
            checker=checker,
            report_only_divergent=settings.sweep_report_only_divergent,
        ),
    }
