"""Channels: rendered messages in the outbox, the in-app inbox, wallet passes, instance secrets.

``outbox.rendered`` keeps each message as it was handed to its channel; ``inbox_messages`` is
the per-customer in-app inbox SDKs read; ``wallet_passes`` / ``wallet_registrations`` back the
Apple Wallet web service; ``secrets`` holds keys the installation makes once (tracking links).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 15:10:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "secrets",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_secrets")),
    )
    op.create_table(
        "wallet_passes",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "application_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("customer_id", sa.String(length=200), nullable=False),
        sa.Column("pass_type_id", sa.String(length=200), nullable=False),
        sa.Column("serial_number", sa.String(length=200), nullable=False),
        sa.Column("authentication_token", sa.String(length=200), nullable=False),
        sa.Column(
            "fields",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["applications.id"],
            name=op.f("fk_wallet_passes_application_id_applications"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wallet_passes")),
        sa.UniqueConstraint(
            "pass_type_id",
            "serial_number",
            name=op.f("uq_wallet_passes_pass_type_id_serial_number"),
        ),
    )
    with op.batch_alter_table("wallet_passes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_wallet_passes_application_id_customer_id"),
            ["application_id", "customer_id"],
            unique=False,
        )

    op.create_table(
        "wallet_registrations",
        sa.Column("device_library_id", sa.String(length=200), nullable=False),
        sa.Column("pass_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("push_token", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["pass_id"],
            ["wallet_passes.id"],
            name=op.f("fk_wallet_registrations_pass_id_wallet_passes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "device_library_id", "pass_id", name=op.f("pk_wallet_registrations")
        ),
    )
    op.create_table(
        "inbox_messages",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "application_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("customer_id", sa.String(length=200), nullable=False),
        sa.Column("outbox_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column(
            "campaign_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column(
            "content",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("clicked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["applications.id"],
            name=op.f("fk_inbox_messages_application_id_applications"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_inbox_messages_campaign_id_campaigns"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["outbox_id"],
            ["outbox.id"],
            name=op.f("fk_inbox_messages_outbox_id_outbox"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbox_messages")),
        sa.UniqueConstraint("outbox_id", name=op.f("uq_inbox_messages_outbox_id")),
    )
    with op.batch_alter_table("inbox_messages", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_inbox_messages_application_id_customer_id_id"),
            ["application_id", "customer_id", "id"],
            unique=False,
        )

    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "rendered",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=True,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("rendered")

    with op.batch_alter_table("inbox_messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inbox_messages_application_id_customer_id_id"))

    op.drop_table("inbox_messages")
    op.drop_table("wallet_registrations")
    with op.batch_alter_table("wallet_passes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_wallet_passes_application_id_customer_id"))

    op.drop_table("wallet_passes")
    op.drop_table("secrets")
