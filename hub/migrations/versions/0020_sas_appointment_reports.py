"""sas appointment reports: bookings made from the SAS's slot link, reported to its platform

Whether a SAS booking was made on the hub's own page from the slot's link (then the hub reports
the Appointment to the SAS platform), and the booking status last queued for the platform.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06 02:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sas_appointments", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("via_slot_link", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(
            sa.Column("reported_status", sa.String(length=20), nullable=False, server_default="")
        )


def downgrade() -> None:
    with op.batch_alter_table("sas_appointments", schema=None) as batch_op:
        batch_op.drop_column("reported_status")
        batch_op.drop_column("via_slot_link")
