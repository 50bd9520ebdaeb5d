"""The wire contract of sipline: versioned CloudEvents models for commands and events.

This package depends on pydantic alone and does no I/O. JSON Schemas (``schemas/``) and the
AsyncAPI document (``asyncapi.yaml``) are generated from these models by ``sipline schema``.

The models are imported when one of their names is first asked for (PEP 562), not when the
package is: building them is most of the package's cost, and a module that needs only
:mod:`contracts.verdicts` (``sipline status``) imports the package all the same.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from contracts.commands import (
        COMMANDS,
        AnyCommand,
        Command,
        LineCreate,
        LineCreateData,
        LineDelete,
        LineReconcile,
        LineRefData,
        LineUpdate,
        LineUpdateData,
        PortalSweep,
        PortalSweepData,
        UpdatableField,
    )
    from contracts.envelope import CONTENT_TYPE, DATA_CONTENT_TYPE, Data, Envelope, dataschema_uri
    from contracts.events import (
        EVENTS,
        Bitrix24Side,
        CommandFailed,
        CommandFailedData,
        CommandRejected,
        CommandRejectedData,
        CommandReplayed,
        CommandReplayedData,
        Event,
        EventData,
        FieldError,
        LineCreated,
        LineCreatedData,
        LineDeleted,
        LineDeletedData,
        LineReconciled,
        LineReconciledData,
        LineRepaired,
        LineRepairedData,
        LineUpdated,
        LineUpdatedData,
        OrphanRegistration,
        Orphans,
        PortalSwept,
        PortalSweptData,
        ReappliedField,
        RejectReason,
        RepairAction,
        Verdict,
        VoximplantSide,
        event_for,
    )

CONTRACT_VERSION = "1.4.0"

__all__ = [
    "COMMANDS",
    "CONTENT_TYPE",
    "CONTRACT_VERSION",
    "DATA_CONTENT_TYPE",
    "EVENTS",
    "AnyCommand",
    "Bitrix24Side",
    "Command",
    "CommandFailed",
    "CommandFailedData",
    "CommandRejected",
    "CommandRejectedData",
    "CommandReplayed",
    "CommandReplayedData",
    "Data",
    "Envelope",
    "Event",
    "EventData",
    "FieldError",
    "LineCreate",
    "LineCreateData",
    "LineCreated",
    "LineCreatedData",
    "LineDelete",
    "LineDeleted",
    "LineDeletedData",
    "LineReconcile",
    "LineReconciled",
    "LineReconciledData",
    "LineRefData",
    "LineRepaired",
    "LineRepairedData",
    "LineUpdate",
    "LineUpdateData",
    "LineUpdated",
    "LineUpdatedData",
    "OrphanRegistration",
    "Orphans",
    "PortalSweep",
    "PortalSweepData",
    "PortalSwept",
    "PortalSweptData",
    "ReappliedField",
    "RejectReason",
    "RepairAction",
    "UpdatableField",
    "Verdict",
    "VoximplantSide",
    "dataschema_uri",
    "event_for",
]


_MODELS = ("contracts.commands", "contracts.envelope", "contracts.events")


def __getattr__(name: str) -> Any:
    """A name of ``__all__`` from the module that defines it, imported on first use."""
    if name in __all__:
        for module in _MODELS:
            found = vars(importlib.import_module(module))
            if name in found:
                globals()[name] = found[name]
                return found[name]
    raise AttributeError(f"module 'contracts' has no attribute {name!r}")
