"""identity vigilance

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 17:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import hub.db

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "distinct_patients",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("first_id", sa.Integer(), nullable=False),
        sa.Column("second_id", sa.Integer(), nullable=False),
        sa.Column("decided_at", hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["first_id"],
            ["patients.id"],
            name=op.f("fk_distinct_patients_first_id_patients"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["second_id"],
            ["patients.id"],
            name=op.f("fk_distinct_patients_second_id_patients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_distinct_patients")),
        sa.UniqueConstraint(
            "first_id", "second_id", name=op.f("uq_distinct_patients_first_id_second_id")
        ),
    )
    with op.batch_alter_table("patients", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pending_of_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("pending_reason", sa.String(length=300), nullable=False, server_default="")
        )
        batch_op.create_index(batch_op.f("ix_patients_pending_of_id"), ["pending_of_id"])
        batch_op.create_foreign_key(
            batch_op.f("fk_patients_pending_of_id_patients"),
            "patients",
            ["pending_of_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.add_column(sa.Column("merged_into_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_patients_merged_into_id_patients"),
            "patients",
            ["merged_into_id"],
            ["id"],
            ondelete="SET NULL",
        )
    with op.batch_alter_table("patients", schema=None) as batch_op:
        batch_op.alter_column("pending_reason", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("patients", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_patients_merged_into_id_patients"), type_="foreignkey"
        )
        batch_op.drop_column("merged_into_id")
        batch_op.drop_constraint(
            batch_op.f("fk_patients_pending_of_id_patients"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_patients_pending_of_id"))
        batch_op.drop_column("pending_reason")
        batch_op.drop_column("pending_of_id")
    op.drop_table("distinct_patients")
