"""The ``line.reconcile`` a callback causes for one line, under an id that a callback sent
again repeats (so the runtime sees a redelivery, and its events keep their ids)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from contracts import LineReconcile, LineRefData
from worker.store import LineRecord

SOURCE = "urn:sipline:voximplant-callbacks"
# command ids are uuid5(NAMESPACE, "<account>/<callback>/<portal>/<config_id>")
NAMESPACE = uuid.UUID("5b0c3f5e-6f1d-4c39-9a51-7c2f0e1b9d42")


def command_id(account_id: int, callback_id: int, portal: str, config_id: int) -> str:
    """The command id of the ``line.reconcile`` one callback causes for one line."""
    return str(uuid.uuid5(NAMESPACE, f"{account_id}/{callback_id}/{portal}/{config_id}"))


def reconcile_command(account_id: int, callback_id: int, line: LineRecord) -> LineReconcile:
    ident = command_id(account_id, callback_id, line.portal, line.config_id)
    return LineReconcile(
        id=ident,
        type="line.reconcile",
        source=SOURCE,
        time=datetime.now(UTC),
        portal=line.portal,
        subject=f"lines/{line.config_id}",
        correlationid=ident,
        data=LineRefData(config_id=line.config_id),
    )
