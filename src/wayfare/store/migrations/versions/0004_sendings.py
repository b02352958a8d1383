"""Sendings: one-off deliveries of a campaign, their messages marked in the outbox.

``sendings`` holds each sending (its campaign, audience, size and when it goes);
``outbox.sending_id`` ties its messages to it (and provider callbacks find a message by its
``provider_message_id``, both partial indexes). On SQLite adding a foreign key rebuilds the
outbox (batch mode), keeping the in-app inbox's links to it.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 15:40:00
"""

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "sendings",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("application_id", ID, nullable=False),
        sa.Column("campaign_id", ID, nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("audience", sa.String(length=20), nullable=False),
        sa.Column("list_id", ID, nullable=True),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("send_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "audience IN ('all', 'list', 'customers', 'csv')", name=op.f("ck_sendings_audience")
        ),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["applications.id"],
            name=op.f("fk_sendings_application_id_applications"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_sendings_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["list_id"],
            ["contact_lists.id"],
            name=op.f("fk_sendings_list_id_contact_lists"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sendings")),
    )
    op.create_index(
        op.f("ix_sendings_application_id_campaign_id"),
        "sendings",
        ["application_id", "campaign_id"],
        unique=False,
    )
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_outbox_keeping_inbox_links()
    else:
        op.add_column("outbox", sa.Column("sending_id", ID, nullable=True))
        op.create_foreign_key(
            op.f("fk_outbox_sending_id_sendings"),
            "outbox",
            "sendings",
            ["sending_id"],
            ["id"],
            ondelete="SET NULL",
        )
    op.create_index(
        op.f("ix_outbox_provider_message_id"),
        "outbox",
        ["provider_message_id"],
        unique=False,
        sqlite_where=sa.text("provider_message_id IS NOT NULL"),
        postgresql_where=sa.text("provider_message_id IS NOT NULL"),
    )
    op.create_index(
        op.f("ix_outbox_sending_id"),
        "outbox",
        ["sending_id"],
        unique=False,
        sqlite_where=sa.text("sending_id IS NOT NULL"),
        postgresql_where=sa.text("sending_id IS NOT NULL"),
    )


def _rebuild_outbox_keeping_inbox_links() -> None:
    """Add ``outbox.sending_id`` with its foreign key on SQLite, which rebuilds the table."""
    with _inbox_links_kept(), op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sending_id", ID, nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_outbox_sending_id_sendings"),
            "sendings",
            ["sending_id"],
            ["id"],
            ondelete="SET NULL",
        )


@contextmanager
def _inbox_links_kept() -> Iterator[None]:
    """Keep ``inbox_messages.outbox_id`` through a rebuild of the outbox on SQLite.

    Dropping the old table deletes its rows first, which (foreign keys on) sets the inbox's
    links to NULL: they are kept aside and put back.
    """
    op.execute(
        "CREATE TEMPORARY TABLE inbox_links AS "
        "SELECT id, outbox_id FROM inbox_messages WHERE outbox_id IS NOT NULL"
    )
    yield
    op.execute(
        "UPDATE inbox_messages SET outbox_id = "
        "(SELECT outbox_id FROM inbox_links WHERE inbox_links.id = inbox_messages.id) "
        "WHERE id IN (SELECT id FROM inbox_links)"
    )
    op.execute("DROP TABLE inbox_links")


def downgrade() -> None:
    op.drop_index(op.f("ix_outbox_sending_id"), table_name="outbox")
    op.drop_index(op.f("ix_outbox_provider_message_id"), table_name="outbox")
    if op.get_bind().dialect.name == "sqlite":
        # SQLite drops a column that has a foreign key only by rebuilding the table.
        with _inbox_links_kept(), op.batch_alter_table("outbox", schema=None) as batch_op:
            batch_op.drop_column("sending_id")
    else:
        op.drop_constraint(op.f("fk_outbox_sending_id_sendings"), "outbox", type_="foreignkey")
        op.drop_column("outbox", "sending_id")
    op.drop_index(op.f("ix_sendings_application_id_campaign_id"), table_name="sendings")
    op.drop_table("sendings")
