"""Places (geofences), who is inside them and when each device last reported; customers found
by phone number (calls).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27 23:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_index("ix_customers_phone", "customers", ["application_id", "phone"], unique=False)
    op.create_table(
        "places",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("application_id", ID, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("latitude", sa.Float(), nullable=False),
        sa.Column("longitude", sa.Float(), nullable=False),
        sa.Column("radius", sa.Float(), nullable=False),
        sa.Column("cooldown_seconds", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["applications.id"],
            name=op.f("fk_places_application_id_applications"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_places")),
        sa.UniqueConstraint("application_id", "name", name=op.f("uq_places_application_id_name")),
    )
    op.create_table(
        "place_presence",
        sa.Column("place_id", ID, nullable=False),
        sa.Column("application_id", ID, nullable=False),
        sa.Column("customer_id", sa.String(length=200), nullable=False),
        sa.Column("inside", sa.Boolean(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["place_id"],
            ["places.id"],
            name=op.f("fk_place_presence_place_id_places"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("place_id", "customer_id", name=op.f("pk_place_presence")),
    )
    op.create_table(
        "location_reports",
        sa.Column("application_id", ID, nullable=False),
        sa.Column("customer_id", sa.String(length=200), nullable=False),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("application_id", "customer_id", name=op.f("pk_location_reports")),
    )
    op.create_index(
        op.f("ix_place_presence_application_id_customer_id"),
        "place_presence",
        ["application_id", "customer_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_place_presence_application_id_customer_id"), table_name="place_presence")
    op.drop_table("location_reports")
    op.drop_table("place_presence")
    op.drop_table("places")
    op.drop_index("ix_customers_phone", table_name="customers")
