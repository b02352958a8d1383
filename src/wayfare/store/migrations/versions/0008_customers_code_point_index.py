"""Customers in code-point order on PostgreSQL: an index on (application_id, customer_id "C").

The customer listing orders by ``customer_id COLLATE "C"`` (as Python and SQLite order strings);
the unique index is in the database's collation and cannot serve that order, so each page sorted
the application's customers. SQLite needs nothing: its default order is already code point.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27 18:40:00
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.create_index(
        "ix_customers_code_point",
        "customers",
        ["application_id", "customer_id"],
        unique=False,
        postgresql_ops={"customer_id": 'COLLATE "C"'},
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index("ix_customers_code_point", table_name="customers")
