"""Every table of the store, as SQLAlchemy Core objects; this module alone names them.

Secrets live only in ``*_enc`` columns, as Fernet tokens (see :mod:`.crypto`). The
migrations under ``migrations/versions`` create exactly these tables; a test compares the
two so they cannot drift apart.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Dialect,
    Float,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    TypeDecorator,
)

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, on SQLite (which keeps no zone) as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("the store takes timezone-aware datetimes only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


store_meta = Table(
    "store_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

counters = Table(
    "counters",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", BigInteger, nullable=False),
)

portals = Table(
    "portals",
    metadata,
    Column("domain", String(253), primary_key=True),
    Column("auth", String(16), nullable=False),
    Column("webhook_url_enc", Text),
    Column("client_id", String(255)),
    Column("client_secret_enc", Text),
    Column("rest_url", Text),
    Column("oauth_server_url", Text, nullable=False),
    Column("plan", String(16), nullable=False),
    Column("bucket_capacity", Integer),
    Column("drain_per_second", Float),
    Column("enabled", Boolean, nullable=False),
    Column("member_id", String(64)),
    Column("application_token_enc", Text),
    Column("sweep_interval", Float),
    Column("repair_policy", String(16), nullable=False),
    Column("repair_budget", Integer),
    Column("owns_voximplant_account", Boolean, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("version", BigInteger, nullable=False),
    CheckConstraint("auth IN ('webhook', 'oauth')", name="auth"),
    CheckConstraint("plan IN ('standard', 'enterprise', 'custom')", name="plan"),
    CheckConstraint("repair_policy IN ('observe', 'repair')", name="repair_policy"),
    Index(None, "member_id"),
    Index(None, "version"),
)

oauth_tokens = Table(
    "oauth_tokens",
    metadata,
    Column("portal", String(253), primary_key=True),
    Column("access_token_enc", Text, nullable=False),
    Column("refresh_token_enc", Text, nullable=False),
    Column("expires_at", UTCDateTime),
    Column("generation", BigInteger, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    # a refresh in flight: who spends the refresh token with this fingerprint, since when,
    # and until when the others wait for it (0007)
    Column("refresh_by", String(200)),
    Column("refresh_started_at", UTCDateTime),
    Column("refresh_lease_until", UTCDateTime),
    Column("refresh_fingerprint", String(64)),
    # the refresh token was refused: the portal needs authorising again (0007)
    Column("reauth_reason", String(32)),
    Column("reauth_since", UTCDateTime),
    Column("reauth_detail", Text),
)

lines = Table(
    "lines",
    metadata,
    Column("portal", String(253), nullable=False),
    Column("config_id", BigInteger, nullable=False),
    Column("title", Text),
    Column("line_type", String(16)),
    Column("reg_id", BigInteger),
    Column("verdict", String(32)),
    Column("verdict_since", UTCDateTime),
    Column("last_checked", UTCDateTime),
    Column("findings", JSON, nullable=False),
    Column("last_command_id", String(255)),
    Column("deleted", Boolean, nullable=False),
    Column("last_event_id", String(255), nullable=False),
    Column("last_event_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("portal", "config_id"),
    Index(None, "verdict", "portal"),
    Index(None, "reg_id"),
)

processed_events = Table(
    "processed_events",
    metadata,
    Column("event_id", String(255), primary_key=True),
    Column("applied_at", UTCDateTime, nullable=False),
    Index(None, "applied_at"),
)

create_commands = Table(
    "create_commands",
    metadata,
    Column("command_id", String(255), primary_key=True),
    Column("portal", String(253), nullable=False),
    Column("config_id", BigInteger, nullable=False),
    Column("recorded_at", UTCDateTime, nullable=False),
)

callbacks = Table(
    "callbacks",
    metadata,
    Column("account_id", BigInteger, nullable=False),
    Column("callback_id", String(255), nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("account_id", "callback_id"),
    Index(None, "received_at"),
)

portal_callbacks = Table(
    "portal_callbacks",
    metadata,
    Column("portal", String(253), primary_key=True),
    Column("last_at", UTCDateTime, nullable=False),
)

repairs = Table(
    "repairs",
    metadata,
    Column("portal", String(253), nullable=False),
    Column("config_id", BigInteger, nullable=False),
    Column("history", JSON, nullable=False),
    Column("note", JSON(none_as_null=True)),
    Column("updated_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("portal", "config_id"),
)

sweep_schedule = Table(
    "sweep_schedule",
    metadata,
    Column("portal", String(253), primary_key=True),
    Column("generation", BigInteger, nullable=False),
    Column("due_at", UTCDateTime),
    Column("interval", Float, nullable=False),
    Column("fired_at", UTCDateTime),
    Column("swept_at", UTCDateTime),
    Index(None, "due_at"),
)

PORTALS_COUNTER = "portals"
KEY_CHECK = "key_check"
