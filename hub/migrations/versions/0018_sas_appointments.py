"""sas appointments: what a SAS regulator's Appointment said beyond the booking

The regulator's identifier (IDNPS, or the SAS's technical id), the calling platform's own
identifier of the appointment, and the doctor the regulator booked with (IDNPS).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 02:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sas_appointments",
        sa.Column("booking_id", sa.Integer(), nullable=False),
        sa.Column("operator_type", sa.String(length=10), nullable=False),
        sa.Column("operator_system", sa.String(length=100), nullable=False),
        sa.Column("operator_value", sa.String(length=100), nullable=False),
        sa.Column("caller_system", sa.String(length=200), nullable=False),
        sa.Column("caller_value", sa.String(length=100), nullable=False),
        sa.Column("practitioner_idnps", sa.String(length=20), nullable=False),
        sa.ForeignKeyConstraint(
            ["booking_id"],
            ["bookings.id"],
            name=op.f("fk_sas_appointments_booking_id_bookings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("booking_id", name=op.f("pk_sas_appointments")),
    )
    with op.batch_alter_table("sas_appointments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sas_appointments_caller_value"), ["caller_value"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("sas_appointments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sas_appointments_caller_value"))
    op.drop_table("sas_appointments")
