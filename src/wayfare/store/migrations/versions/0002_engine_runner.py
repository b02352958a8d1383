"""Engine runner: enrollments keep their state's arrival time, memory and awaited event codes.

``enrollments.wait_event`` becomes TEXT holding every awaited code as `` code1 code2 ``;
``enrollments.wait`` (JSON) holds the current state's memory; ``state_since`` is when
the enrollment arrived in its state. ``journeys.next_entry_check_at`` schedules re-entry checks.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 13:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("enrollments", schema=None) as batch_op:
        batch_op.drop_index("ix_enrollments_awaiting")
        batch_op.drop_index("ix_enrollments_due")
    with op.batch_alter_table("enrollments", schema=None) as batch_op:
        batch_op.alter_column("wait_event", existing_type=sa.String(length=100), type_=sa.Text())
        batch_op.add_column(sa.Column("state_since", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("enrollments", schema=None) as batch_op:
        batch_op.create_index(
            "ix_enrollments_awaiting",
            ["application_id", "customer_id", "wait_event"],
            unique=False,
            sqlite_where=sa.text("wait_event IS NOT NULL"),
            postgresql_where=sa.text("wait_event IS NOT NULL"),
        )
        batch_op.create_index(
            "ix_enrollments_due",
            ["wake_at"],
            unique=False,
            sqlite_where=sa.text("status IN ('ready', 'waiting')"),
            postgresql_where=sa.text("status IN ('ready', 'waiting')"),
        )
    with op.batch_alter_table("journeys", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("next_entry_check_at", sa.DateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("journeys", schema=None) as batch_op:
        batch_op.drop_column("next_entry_check_at")
    with op.batch_alter_table("enrollments", schema=None) as batch_op:
        batch_op.drop_index("ix_enrollments_awaiting")
        batch_op.drop_index("ix_enrollments_due")
    with op.batch_alter_table("enrollments", schema=None) as batch_op:
        batch_op.drop_column("state_since")
        batch_op.alter_column("wait_event", existing_type=sa.Text(), type_=sa.String(length=100))
    with op.batch_alter_table("enrollments", schema=None) as batch_op:
        batch_op.create_index(
            "ix_enrollments_awaiting",
            ["application_id", "customer_id", "wait_event"],
            unique=False,
            sqlite_where=sa.text("wait_event IS NOT NULL"),
            postgresql_where=sa.text("wait_event IS NOT NULL"),
        )
        batch_op.create_index(
            "ix_enrollments_due",
            ["wake_at"],
            unique=False,
            sqlite_where=sa.text("status IN ('ready', 'waiting')"),
            postgresql_where=sa.text("status IN ('ready', 'waiting')"),
        )
