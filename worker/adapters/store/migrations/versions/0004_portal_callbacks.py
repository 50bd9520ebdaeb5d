"""The time of the last Voximplant callback that named a line of each portal.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision: str | None = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "portal_callbacks",
        sa.Column("portal", sa.String(253), nullable=False),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("portal", name="pk_portal_callbacks"),
    )


def downgrade() -> None:
    op.drop_table("portal_callbacks")
