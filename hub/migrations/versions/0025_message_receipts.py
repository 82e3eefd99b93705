"""message receipts: the delivery status notifications and read receipts of the outbox's
e-mails (MSSanté relays), read back from the hub's mailbox

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-06 05:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import hub.db

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "message_receipts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=True),
        sa.Column(
            "kind",
            sa.Enum(
                "delivered",
                "failed",
                "read",
                "other",
                name="receipt_kind",
                native_enum=False,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("reference", sa.String(length=320), nullable=False),
        sa.Column("report_message_id", sa.String(length=320), nullable=False),
        sa.Column("reported_at", hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("received_at", hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["message_id"], ["outbound_messages.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("report_message_id"),
    )
    op.create_index("ix_message_receipts_message", "message_receipts", ["message_id"])


def downgrade() -> None:
    op.drop_index("ix_message_receipts_message", table_name="message_receipts")
    op.drop_table("message_receipts")
