"""Alembic's environment: always run on the connection :mod:`..migrate` hands over.

That connection is already inside the transaction that holds the upgrade lock (PostgreSQL
advisory lock, SQLite ``BEGIN IMMEDIATE``), so every revision runs in it as one.
"""

from __future__ import annotations

from alembic import context

from worker.adapters.store.tables import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=True,
    transaction_per_migration=False,
)
with context.begin_transaction():
    context.run_migrations()
