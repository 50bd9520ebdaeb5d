"""The sweep schedule: per portal, the one tick the broker should be holding.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision: str | None = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sweep_schedule",
        sa.Column("portal", sa.String(253), nullable=False),
        sa.Column("generation", sa.BigInteger, nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True)),
        sa.Column("interval", sa.Float, nullable=False),
        sa.Column("fired_at", sa.DateTime(timezone=True)),
        sa.Column("swept_at", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("portal", name="pk_sweep_schedule"),
    )
    op.create_index("ix_sweep_schedule_due_at", "sweep_schedule", ["due_at"])


def downgrade() -> None:
    op.drop_index("ix_sweep_schedule_due_at", table_name="sweep_schedule")
    op.drop_table("sweep_schedule")
