"""De-duplication keys of inbound callbacks (Voximplant account id + callback id).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision: str | None = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "callbacks",
        sa.Column("account_id", sa.BigInteger, nullable=False),
        sa.Column("callback_id", sa.String(255), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "callback_id", name="pk_callbacks"),
    )
    op.create_index("ix_callbacks_received_at", "callbacks", ["received_at"])


def downgrade() -> None:
    op.drop_index("ix_callbacks_received_at", table_name="callbacks")
    op.drop_table("callbacks")
