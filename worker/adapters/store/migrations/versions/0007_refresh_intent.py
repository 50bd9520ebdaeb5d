"""OAuth refreshes in flight and portals that need authorising again.

A refresh records who is spending which refresh token (its fingerprint, never the token)
before it calls the OAuth server, so a successor can tell a pair lost in flight (the
refresher died or lost the answer) from a revoked one; a portal whose refresh token was
refused is marked until it is installed again or given new tokens.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision: str | None = "0006"
branch_labels = None
depends_on = None

COLUMNS = (
    ("refresh_by", sa.String(200)),
    ("refresh_started_at", sa.DateTime(timezone=True)),
    ("refresh_lease_until", sa.DateTime(timezone=True)),
    ("refresh_fingerprint", sa.String(64)),
    ("reauth_reason", sa.String(32)),
    ("reauth_since", sa.DateTime(timezone=True)),
    ("reauth_detail", sa.Text),
)


def upgrade() -> None:
    with op.batch_alter_table("oauth_tokens") as batch:
        for name, kind in COLUMNS:
            batch.add_column(sa.Column(name, kind, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("oauth_tokens") as batch:
        for name, _ in reversed(COLUMNS):
            batch.drop_column(name)
