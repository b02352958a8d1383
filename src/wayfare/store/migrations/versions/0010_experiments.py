"""Experiments: who was drawn into which path, and what each experiment decided.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-28 00:00:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "experiment_entries",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("application_id", ID, nullable=False),
        sa.Column("journey_id", ID, nullable=False),
        sa.Column("state_id", sa.Integer(), nullable=False),
        sa.Column("path", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.String(length=200), nullable=False),
        sa.Column("entered_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["applications.id"],
            name=op.f("fk_experiment_entries_application_id_applications"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["journey_id"],
            ["journeys.id"],
            name=op.f("fk_experiment_entries_journey_id_journeys"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_experiment_entries")),
    )
    op.create_index(
        op.f("ix_experiment_entries_journey_id_state_id_entered_at"),
        "experiment_entries",
        ["journey_id", "state_id", "entered_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_experiment_entries_application_id_customer_id"),
        "experiment_entries",
        ["application_id", "customer_id"],
        unique=False,
    )
    op.create_table(
        "experiment_decisions",
        sa.Column("journey_id", ID, nullable=False),
        sa.Column("state_id", sa.Integer(), nullable=False),
        sa.Column("winner", sa.Integer(), nullable=True),
        sa.Column("rule", sa.String(length=20), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("figures", JSON, nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["journey_id"],
            ["journeys.id"],
            name=op.f("fk_experiment_decisions_journey_id_journeys"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("journey_id", "state_id", name=op.f("pk_experiment_decisions")),
    )


def downgrade() -> None:
    op.drop_table("experiment_decisions")
    op.drop_index(
        op.f("ix_experiment_entries_application_id_customer_id"), table_name="experiment_entries"
    )
    op.drop_index(
        op.f("ix_experiment_entries_journey_id_state_id_entered_at"),
        table_name="experiment_entries",
    )
    op.drop_table("experiment_entries")
