"""Each line's recent repairs (the hourly budget) and the repair awaiting its re-check.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision: str | None = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "repairs",
        sa.Column("portal", sa.String(253), nullable=False),
        sa.Column("config_id", sa.BigInteger, nullable=False),
        sa.Column("history", sa.JSON, nullable=False),
        sa.Column("note", sa.JSON(none_as_null=True)),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("portal", "config_id", name="pk_repairs"),
    )


def downgrade() -> None:
    op.drop_table("repairs")
