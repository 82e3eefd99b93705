"""bookings reporting index: the indicators count bookings by ranges of an index

(site, status, start): per site, status and month, a range of the index, neither the table
read nor the rows sorted.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06 02:10:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_bookings_reporting", "bookings", ["site_id", "status", "starts_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_bookings_reporting", table_name="bookings")
