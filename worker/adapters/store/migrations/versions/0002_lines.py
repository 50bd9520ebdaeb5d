"""The line projection: current state per line, applied event ids, create command ids.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lines",
        sa.Column("portal", sa.String(253), nullable=False),
        sa.Column("config_id", sa.BigInteger, nullable=False),
        sa.Column("title", sa.Text),
        sa.Column("line_type", sa.String(16)),
        sa.Column("reg_id", sa.BigInteger),
        sa.Column("verdict", sa.String(32)),
        sa.Column("verdict_since", sa.DateTime(timezone=True)),
        sa.Column("last_checked", sa.DateTime(timezone=True)),
        sa.Column("findings", sa.JSON, nullable=False),
        sa.Column("last_command_id", sa.String(255)),
        sa.Column("deleted", sa.Boolean, nullable=False),
        sa.Column("last_event_id", sa.String(255), nullable=False),
        sa.Column("last_event_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("portal", "config_id", name="pk_lines"),
    )
    op.create_index("ix_lines_verdict_portal", "lines", ["verdict", "portal"])
    op.create_index("ix_lines_reg_id", "lines", ["reg_id"])
    op.create_table(
        "processed_events",
        sa.Column("event_id", sa.String(255), nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name="pk_processed_events"),
    )
    op.create_index("ix_processed_events_applied_at", "processed_events", ["applied_at"])
    op.create_table(
        "create_commands",
        sa.Column("command_id", sa.String(255), nullable=False),
        sa.Column("portal", sa.String(253), nullable=False),
        sa.Column("config_id", sa.BigInteger, nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("command_id", name="pk_create_commands"),
    )


def downgrade() -> None:
    op.drop_table("create_commands")
    op.drop_index("ix_processed_events_applied_at", table_name="processed_events")
    op.drop_table("processed_events")
    op.drop_index("ix_lines_reg_id", table_name="lines")
    op.drop_index("ix_lines_verdict_portal", table_name="lines")
    op.drop_table("lines")
