"""doctor specialty and requesting doctor: a doctor's specialty (e.g. Psychiatrie), and on a
booking the doctor who asked for the consultation, whom the signed report is relayed to

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-06 03:05:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("specialty", sa.String(60), nullable=False, server_default=""))
    with op.batch_alter_table("bookings") as batch:
        batch.add_column(
            sa.Column("requester_name", sa.String(200), nullable=False, server_default="")
        )
        batch.add_column(
            sa.Column("requester_mssante", sa.String(200), nullable=False, server_default="")
        )
        batch.add_column(
            sa.Column("requester_rpps", sa.String(11), nullable=False, server_default="")
        )


def downgrade() -> None:
    with op.batch_alter_table("bookings") as batch:
        batch.drop_column("requester_rpps")
        batch.drop_column("requester_mssante")
        batch.drop_column("requester_name")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("specialty")
