"""kit loans: a CPTS mobile kit lent to one booking's session at another site

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06 03:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import hub.db

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "kit_loans",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cabin_id", sa.Integer(), nullable=False),
        sa.Column("booking_id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("lent_by", sa.Integer(), nullable=True),
        sa.Column("lent_at", hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("until", hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["cabin_id"],
            ["cabins.id"],
            name=op.f("fk_kit_loans_cabin_id_cabins"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["booking_id"],
            ["bookings.id"],
            name=op.f("fk_kit_loans_booking_id_bookings"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_kit_loans_site_id_sites"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["lent_by"], ["users.id"], name=op.f("fk_kit_loans_lent_by_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kit_loans")),
        sa.UniqueConstraint("booking_id", name=op.f("uq_kit_loans_booking_id")),
    )
    op.create_index(op.f("ix_kit_loans_cabin_id"), "kit_loans", ["cabin_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_kit_loans_cabin_id"), table_name="kit_loans")
    op.drop_table("kit_loans")
