"""slot search indexes

The free-slot search reads only candidate slots: open slots in time order across sites, and
one site's open slots in time order. They replace the index on the start time alone.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05 21:50:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("slots", schema=None) as batch_op:
        batch_op.drop_index("ix_slots_starts_at")
        batch_op.create_index(
            "ix_slots_state_starts_at_site_id", ["state", "starts_at", "site_id"], unique=False
        )
        batch_op.create_index(
            "ix_slots_site_id_state_starts_at", ["site_id", "state", "starts_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("slots", schema=None) as batch_op:
        batch_op.drop_index("ix_slots_site_id_state_starts_at")
        batch_op.drop_index("ix_slots_state_starts_at_site_id")
        batch_op.create_index("ix_slots_starts_at", ["starts_at"], unique=False)
