"""reporting indexes: covering indexes for the indicators' aggregates

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05 22:10:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = {
    "ix_consultations_reporting": (
        "consultations",
        ["site_id", "state", "started_at", "booking_id", "patient_id"],
    ),
    "ix_reports_reporting": (
        "reports",
        ["consultation_id", "status", "version", "orientation", "psychiatric"],
    ),
    "ix_outbound_messages_reporting": (
        "outbound_messages",
        ["related_kind", "related_id", "purpose", "status"],
    ),
}


def upgrade() -> None:
    for name, (table, columns) in INDEXES.items():
        op.create_index(name, table, columns, unique=False)


def downgrade() -> None:
    for name, (table, _) in INDEXES.items():
        op.drop_index(name, table_name=table)
