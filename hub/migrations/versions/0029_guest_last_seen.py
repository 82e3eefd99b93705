"""consultation guests: when the guest's page last asked for its state, so that a guest whose
browser died or lost its network is shown gone instead of present

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-06 23:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import hub.db

revision: str = "0029"
down_revision: str | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("consultation_guests") as batch:
        batch.add_column(
            sa.Column("last_seen_at", hub.db.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("consultation_guests") as batch:
        batch.drop_column("last_seen_at")
