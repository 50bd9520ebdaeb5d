"""The portal registry, its change counter, OAuth tokens, and the store's metadata.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "store_meta",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_store_meta"),
    )
    counters = op.create_table(
        "counters",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("value", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_counters"),
    )
    op.bulk_insert(counters, [{"name": "portals", "value": 0}])
    op.create_table(
        "portals",
        sa.Column("domain", sa.String(253), nullable=False),
        sa.Column("auth", sa.String(16), nullable=False),
        sa.Column("webhook_url_enc", sa.Text),
        sa.Column("client_id", sa.String(255)),
        sa.Column("client_secret_enc", sa.Text),
        sa.Column("rest_url", sa.Text),
        sa.Column("oauth_server_url", sa.Text, nullable=False),
        sa.Column("plan", sa.String(16), nullable=False),
        sa.Column("bucket_capacity", sa.Integer),
        sa.Column("drain_per_second", sa.Float),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("member_id", sa.String(64)),
        sa.Column("application_token_enc", sa.Text),
        sa.Column("sweep_interval", sa.Float),
        sa.Column("repair_policy", sa.String(16), nullable=False),
        sa.Column("repair_budget", sa.Integer),
        sa.Column("owns_voximplant_account", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("domain", name="pk_portals"),
        sa.CheckConstraint("auth IN ('webhook', 'oauth')", name="ck_portals_auth"),
        sa.CheckConstraint("plan IN ('standard', 'enterprise', 'custom')", name="ck_portals_plan"),
        sa.CheckConstraint(
            "repair_policy IN ('observe', 'repair')", name="ck_portals_repair_policy"
        ),
    )
    op.create_index("ix_portals_member_id", "portals", ["member_id"])
    op.create_index("ix_portals_version", "portals", ["version"])
    op.create_table(
        "oauth_tokens",
        sa.Column("portal", sa.String(253), nullable=False),
        sa.Column("access_token_enc", sa.Text, nullable=False),
        sa.Column("refresh_token_enc", sa.Text, nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True)),
        sa.Column("generation", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("portal", name="pk_oauth_tokens"),
    )


def downgrade() -> None:
    op.drop_table("oauth_tokens")
    op.drop_index("ix_portals_version", table_name="portals")
    op.drop_index("ix_portals_member_id", table_name="portals")
    op.drop_table("portals")
    op.drop_table("counters")
    op.drop_table("store_meta")
