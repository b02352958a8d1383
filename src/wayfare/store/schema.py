"""The database schema, declared once with SQLAlchemy Core for SQLite and PostgreSQL.

The Alembic migrations in ``migrations/`` must produce exactly this (a test compares them).
Customer field values live in one JSON document per customer (``customers.fields``, JSONB on
PostgreSQL): typed by ``customer_fields``, checked on write, queried by compiled conditions.
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
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

Id = BigInteger().with_variant(Integer(), "sqlite")
"""Primary keys: BIGINT identity on PostgreSQL, the rowid alias on SQLite."""

Json = JSON().with_variant(JSONB(), "postgresql")


class UtcDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime: ``timestamptz`` on PostgreSQL, naive UTC text on SQLite."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """To the database: UTC (naive on SQLite); a naive datetime is a bug."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: Wayfare stores aware UTC datetimes")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        """From the database: always an aware UTC datetime."""
        return utc_from_db(value)


def utc_from_db(value: Any) -> datetime | None:
    """A ``UtcDateTime`` value as the driver returns it (text on SQLite), as an aware datetime."""
    if value is None:
        return None
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    assert isinstance(moment, datetime)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _id() -> Column[int]:
    return Column("id", Id, primary_key=True, autoincrement=True)


def _application() -> Column[int]:
    return Column(
        "application_id",
        Id,
        ForeignKey("applications.id", ondelete="CASCADE"),
        nullable=False,
    )


def _created() -> Column[datetime]:
    return Column("created_at", UtcDateTime(), nullable=False)


def _updated() -> Column[datetime]:
    return Column("updated_at", UtcDateTime(), nullable=False)


applications = Table(
    "applications",
    metadata,
    _id(),
    Column("name", String(200), nullable=False, unique=True),
    Column("settings", Json, nullable=False),
    _created(),
)

api_keys = Table(
    "api_keys",
    metadata,
    _id(),
    _application(),
    Column("name", String(200), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("prefix", String(12), nullable=False),
    Column("role", String(20), nullable=False),
    Column("ip_allowlist", Json, nullable=False),
    Column("enabled", Boolean, nullable=False),
    _created(),
    Column("last_used_at", UtcDateTime()),
    CheckConstraint("role IN ('full', 'read')", name="role"),
)

customer_fields = Table(
    "customer_fields",
    metadata,
    _id(),
    _application(),
    Column("name", String(100), nullable=False),
    Column("type", String(20), nullable=False),
    _created(),
    UniqueConstraint("application_id", "name"),
    CheckConstraint("type IN ('string', 'number', 'boolean', 'date', 'datetime')", name="type"),
)

customers = Table(
    "customers",
    metadata,
    _id(),
    _application(),
    Column("customer_id", String(200), nullable=False),
    Column("email", String(320)),
    Column("phone", String(20)),
    Column("whatsapp", String(20)),
    Column("telegram_chat_id", String(64)),
    Column("push_tokens", Json, nullable=False),
    Column("consent", Json, nullable=False),
    Column("timezone", String(64)),
    Column("language", String(35)),
    Column("fields", Json, nullable=False),
    _created(),
    _updated(),
    UniqueConstraint("application_id", "customer_id"),
)

# The customer listing pages by id in code-point order (``Dialect.code_point_order``): on
# PostgreSQL that is ``COLLATE "C"``, which the unique index (in the database's collation) cannot
# serve, so each page sorted all the application's customers. This index holds them in that
# order (PostgreSQL's index grammar puts a column's COLLATE where an operator class goes; its
# reflection shows the plain columns). PostgreSQL only: SQLite's default order is already code
# point, and its unique index serves the listing.
Index(
    "ix_customers_code_point",
    customers.c.application_id,
    customers.c.customer_id,
    postgresql_ops={"customer_id": 'COLLATE "C"'},
).ddl_if(dialect="postgresql")

# Calls find their customer by phone number (``/v1/callback/call``).
Index("ix_customers_phone", customers.c.application_id, customers.c.phone)

places = Table(
    "places",
    metadata,
    # A named geofence: a circle of ``radius`` metres around a point (WGS 84 degrees).
    _id(),
    _application(),
    Column("name", String(200), nullable=False),
    Column("latitude", Float, nullable=False),
    Column("longitude", Float, nullable=False),
    Column("radius", Float, nullable=False),
    Column("cooldown_seconds", Integer, nullable=False),
    _created(),
    _updated(),
    UniqueConstraint("application_id", "name"),
)

place_presence = Table(
    "place_presence",
    metadata,
    # Whether a customer is inside a place, since the last enter or exit (no row: outside).
    # Only this is kept of the locations customers report, not the locations themselves.
    Column("place_id", Id, ForeignKey("places.id", ondelete="CASCADE"), nullable=False),
    Column("application_id", Id, nullable=False),
    Column("customer_id", String(200), nullable=False),
    Column("inside", Boolean, nullable=False),
    Column("changed_at", UtcDateTime(), nullable=False),
    PrimaryKeyConstraint("place_id", "customer_id"),
    Index(None, "application_id", "customer_id"),
)

location_reports = Table(
    "location_reports",
    metadata,
    # When each customer's device last reported where it is (not where: that is not kept), so
    # that a late report, older than one already taken, changes nothing.
    Column("application_id", Id, nullable=False),
    Column("customer_id", String(200), nullable=False),
    Column("reported_at", UtcDateTime(), nullable=False),
    PrimaryKeyConstraint("application_id", "customer_id"),
)

experiment_entries = Table(
    "experiment_entries",
    metadata,
    # A customer drawn into a path of an experiment (a FLOW_RANDOM with ``experiment``): the
    # sample its decision is made on (test runs and entrants after the decision are not in it).
    _id(),
    _application(),
    Column("journey_id", Id, ForeignKey("journeys.id", ondelete="CASCADE"), nullable=False),
    Column("state_id", Integer, nullable=False),
    Column("path", Integer, nullable=False),
    Column("customer_id", String(200), nullable=False),
    Column("entered_at", UtcDateTime(), nullable=False),
    Index(None, "journey_id", "state_id", "entered_at"),
    Index(None, "application_id", "customer_id"),
)

experiment_decisions = Table(
    "experiment_decisions",
    metadata,
    # What an experiment concluded, once: the winning path (None: no winner) and its figures.
    Column("journey_id", Id, ForeignKey("journeys.id", ondelete="CASCADE"), nullable=False),
    Column("state_id", Integer, nullable=False),
    Column("winner", Integer),
    Column("rule", String(20), nullable=False),
    Column("confidence", Float, nullable=False),
    Column("figures", Json, nullable=False),
    Column("decided_at", UtcDateTime(), nullable=False),
    PrimaryKeyConstraint("journey_id", "state_id"),
)

segments = Table(
    "segments",
    metadata,
    _id(),
    _application(),
    Column("name", String(200), nullable=False),
    Column("cond", Json, nullable=False),
    _created(),
    UniqueConstraint("application_id", "name"),
)

contact_lists = Table(
    "contact_lists",
    metadata,
    _id(),
    _application(),
    Column("name", String(200), nullable=False),
    _created(),
    UniqueConstraint("application_id", "name"),
)

list_members = Table(
    "list_members",
    metadata,
    Column("list_id", Id, ForeignKey("contact_lists.id", ondelete="CASCADE"), nullable=False),
    Column("customer_id", String(200), nullable=False),
    Column("context", Json, nullable=False),
    PrimaryKeyConstraint("list_id", "customer_id"),
)

event_types = Table(
    "event_types",
    metadata,
    _id(),
    _application(),
    Column("code", String(100), nullable=False),
    Column("name", String(200), nullable=False),
    Column("retention_days", Integer),
    Column("enabled", Boolean, nullable=False),
    _created(),
    UniqueConstraint("application_id", "code"),
)

events = Table(
    "events",
    metadata,
    _id(),
    _application(),
    Column("event_id", String(64), nullable=False),
    Column("event_code", String(100), nullable=False),
    Column("customer_id", String(200), nullable=False),
    Column("occurred_at", UtcDateTime(), nullable=False),
    Column("custom_data", Json, nullable=False),
    Column("received_at", UtcDateTime(), nullable=False),
    UniqueConstraint("application_id", "event_id"),
    Index(None, "application_id", "customer_id", "event_code", "occurred_at"),
)

campaigns = Table(
    "campaigns",
    metadata,
    _id(),
    _application(),
    Column("name", String(200), nullable=False),
    Column("channel", String(20), nullable=False),
    Column("content", Json, nullable=False),
    _created(),
    _updated(),
)

channel_settings = Table(
    "channel_settings",
    metadata,
    _application(),
    Column("channel", String(20), nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("settings", Json, nullable=False),
    Column("rate_limit", Integer),
    _updated(),
    PrimaryKeyConstraint("application_id", "channel"),
)

journeys = Table(
    "journeys",
    metadata,
    _id(),
    _application(),
    Column("name", String(200), nullable=False),
    Column("status", String(20), nullable=False),
    Column("version", Integer, nullable=False),
    Column("states", Json, nullable=False),
    Column("settings", Json, nullable=False),
    Column("cloned_from", Id, ForeignKey("journeys.id", ondelete="SET NULL")),
    _created(),
    _updated(),
    Column("activated_at", UtcDateTime()),
    Column("deactivated_at", UtcDateTime()),
    # When the entry conditions are checked next (IN_ALL / IN_FILTER / ... with re-entry on).
    Column("next_entry_check_at", UtcDateTime()),
    UniqueConstraint("application_id", "name"),
    CheckConstraint("status IN ('DRAFT', 'ACTIVE', 'DEACTIVATED')", name="status"),
)

enrollments = Table(
    "enrollments",
    metadata,
    _id(),
    _application(),
    Column("journey_id", Id, ForeignKey("journeys.id", ondelete="CASCADE"), nullable=False),
    Column("customer_id", String(200), nullable=False),
    Column("entry_number", Integer, nullable=False),
    Column("test", Boolean, nullable=False),
    Column("state_id", Integer, nullable=False),
    Column("status", String(20), nullable=False),
    Column("wake_at", UtcDateTime()),
    # The awaited event codes as " code1 code2 " (the state's events and the journey's exitOn).
    Column("wait_event", Text),
    # The current state's memory, the engine's memo (reminders sent, a pending webhook call).
    Column("wait", Json),
    Column("context", Json, nullable=False),
    Column("transitions", Integer, nullable=False),
    Column("entered_at", UtcDateTime(), nullable=False),
    Column("state_since", UtcDateTime()),
    # The states passed after the entry state, as "stateId@2026-03-15T12:00:00Z;" appended
    # by each run (store.enrollments.path_steps reads it).
    Column("path", Text),
    _updated(),
    Column("ended_at", UtcDateTime()),
    Column("end_reason", String(100)),
    UniqueConstraint("journey_id", "customer_id", "entry_number"),
    CheckConstraint(
        "status IN ('ready', 'waiting', 'completed', 'exited', 'failed')", name="status"
    ),
    # The timer claim: due enrollments in time order.
    Index(
        "ix_enrollments_due",
        "wake_at",
        sqlite_where=text("status IN ('ready', 'waiting')"),
        postgresql_where=text("status IN ('ready', 'waiting')"),
    ),
    # The event match: who waits for this event code, per customer.
    Index(
        "ix_enrollments_awaiting",
        "application_id",
        "customer_id",
        "wait_event",
        sqlite_where=text("wait_event IS NOT NULL"),
        postgresql_where=text("wait_event IS NOT NULL"),
    ),
    Index(None, "application_id", "customer_id"),
)

sendings = Table(
    "sendings",
    metadata,
    # A one-off delivery of a campaign outside any journey; its messages are outbox rows.
    _id(),
    _application(),
    Column("campaign_id", Id, ForeignKey("campaigns.id", ondelete="CASCADE"), nullable=False),
    Column("channel", String(20), nullable=False),
    Column("audience", String(20), nullable=False),
    Column("list_id", Id, ForeignKey("contact_lists.id", ondelete="SET NULL")),
    Column("total", Integer, nullable=False),
    Column("send_at", UtcDateTime(), nullable=False),
    _created(),
    Column("cancelled_at", UtcDateTime()),
    CheckConstraint("audience IN ('all', 'list', 'customers', 'csv')", name="audience"),
    Index(None, "application_id", "campaign_id"),
)

outbox = Table(
    "outbox",
    metadata,
    _id(),
    _application(),
    Column("idempotency_key", String(200), nullable=False, unique=True),
    Column("enrollment_id", Id, ForeignKey("enrollments.id", ondelete="SET NULL")),
    Column("journey_id", Id, ForeignKey("journeys.id", ondelete="SET NULL")),
    Column("state_id", Integer),
    Column("customer_id", String(200), nullable=False),
    Column("channel", String(20), nullable=False),
    Column("campaign_id", Id, ForeignKey("campaigns.id", ondelete="SET NULL")),
    Column("payload", Json, nullable=False),
    Column("status", String(20), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UtcDateTime(), nullable=False),
    Column("reason", Text),
    Column("provider_message_id", String(200)),
    # The message as it was handed to its channel (the campaign's content rendered).
    Column("rendered", Json),
    _created(),
    Column("sent_at", UtcDateTime()),
    # The one-off sending a message belongs to (journey messages have none).
    Column("sending_id", Id, ForeignKey("sendings.id", ondelete="SET NULL")),
    CheckConstraint("status IN ('pending', 'sent', 'skipped', 'failed')", name="status"),
    Index(
        "ix_outbox_due",
        "next_attempt_at",
        sqlite_where=text("status = 'pending'"),
        postgresql_where=text("status = 'pending'"),
    ),
    Index(None, "application_id", "customer_id"),
    Index(  # provider callbacks find their message (the log channel's have no id)
        None,
        "provider_message_id",
        sqlite_where=text("provider_message_id IS NOT NULL"),
        postgresql_where=text("provider_message_id IS NOT NULL"),
    ),
    Index(  # journey messages (most) have none: they stay out of it
        None,
        "sending_id",
        sqlite_where=text("sending_id IS NOT NULL"),
        postgresql_where=text("sending_id IS NOT NULL"),
    ),
)

stat_counters = Table(
    "stat_counters",
    metadata,
    Column("journey_id", Id, ForeignKey("journeys.id", ondelete="CASCADE"), nullable=False),
    Column("state_id", Integer, nullable=False),
    Column("metric", String(50), nullable=False),
    Column("test", Boolean, nullable=False),
    Column("bucket", UtcDateTime(), nullable=False),
    Column("value", BigInteger, nullable=False),
    PrimaryKeyConstraint("journey_id", "state_id", "metric", "test", "bucket"),
)

secrets = Table(
    "secrets",
    metadata,
    # Keys this installation makes for itself once (e.g. the tracking links' signing key).
    Column("name", String(100), primary_key=True),
    Column("value", Text, nullable=False),
    _created(),
)

inbox_messages = Table(
    "inbox_messages",
    metadata,
    _id(),
    _application(),
    Column("customer_id", String(200), nullable=False),
    Column("outbox_id", Id, ForeignKey("outbox.id", ondelete="SET NULL"), unique=True),
    Column("campaign_id", Id, ForeignKey("campaigns.id", ondelete="SET NULL")),
    Column("content", Json, nullable=False),
    _created(),
    Column("expires_at", UtcDateTime()),
    Column("read_at", UtcDateTime()),
    Column("clicked_at", UtcDateTime()),
    Index(None, "application_id", "customer_id", "id"),
)

wallet_passes = Table(
    "wallet_passes",
    metadata,
    _id(),
    _application(),
    Column("customer_id", String(200), nullable=False),
    Column("pass_type_id", String(200), nullable=False),
    Column("serial_number", String(200), nullable=False),
    Column("authentication_token", String(200), nullable=False),
    Column("fields", Json, nullable=False),
    _updated(),
    UniqueConstraint("pass_type_id", "serial_number"),
    Index(None, "application_id", "customer_id"),
)

wallet_registrations = Table(
    "wallet_registrations",
    metadata,
    Column("device_library_id", String(200), nullable=False),
    Column("pass_id", Id, ForeignKey("wallet_passes.id", ondelete="CASCADE"), nullable=False),
    Column("push_token", String(200), nullable=False),
    _created(),
    PrimaryKeyConstraint("device_library_id", "pass_id"),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    # The answers of POSTs sent with an ``Idempotency-Key`` (status_code NULL: still running).
    _id(),
    _application(),
    Column("key", String(255), nullable=False),
    Column("method", String(10), nullable=False),
    Column("path", String(500), nullable=False),
    Column("request_hash", String(64)),
    Column("status_code", Integer),
    Column("response_body", Text),
    _created(),
    UniqueConstraint("application_id", "key"),
    Index(None, "created_at"),
)

console_users = Table(
    "console_users",
    metadata,
    # People who log in to the web console; the password is kept as a scrypt hash only.
    _id(),
    Column("email", String(320), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("password_hash", String(200), nullable=False),
    Column("enabled", Boolean, nullable=False),
    _created(),
)

console_sessions = Table(
    "console_sessions",
    metadata,
    # A logged-in browser: the SHA-256 of its cookie, its CSRF token and the application shown.
    _id(),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("user_id", Id, ForeignKey("console_users.id", ondelete="CASCADE"), nullable=False),
    Column("csrf_token", String(64), nullable=False),
    Column("application_id", Id, ForeignKey("applications.id", ondelete="SET NULL")),
    _created(),
    Column("expires_at", UtcDateTime(), nullable=False),
    Index(None, "expires_at"),
)
