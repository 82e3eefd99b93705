"""consultation guests: third parties invited into a consultation by a one-time link

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-06 04:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import hub.db

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "consultation_guests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("consultation_id", sa.Integer(), nullable=False),
        sa.Column(
            "role",
            sa.Enum(
                "interpreter",
                "specialist",
                "medecin_traitant",
                name="guest_role",
                native_enum=False,
                length=40,
            ),
            nullable=False,
        ),
        sa.Column("invited_name", sa.String(length=200), nullable=False),
        sa.Column("shown_name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("mobile", sa.String(length=20), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("browser_hash", sa.String(length=64), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "invited",
                "opened",
                "joined",
                "left",
                "removed",
                "ended",
                name="guest_status",
                native_enum=False,
                length=40,
            ),
            nullable=False,
        ),
        sa.Column("invited_by", sa.Integer(), nullable=True),
        sa.Column("created_at", hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("joined_at", hub.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("left_at", hub.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["consultation_id"],
            ["consultations.id"],
            name=op.f("fk_consultation_guests_consultation_id_consultations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["invited_by"],
            ["users.id"],
            name=op.f("fk_consultation_guests_invited_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consultation_guests")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_consultation_guests_token_hash")),
    )
    op.create_index(
        op.f("ix_consultation_guests_consultation_id"),
        "consultation_guests",
        ["consultation_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_consultation_guests_consultation_id"), table_name="consultation_guests")
    op.drop_table("consultation_guests")
