"""message receipts: the report's Final-Recipient, and why a report was applied to no relay
(it names no e-mail of the outbox, or another recipient than the e-mail's), for the
secretariat's list of reports matching no relay

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-06 20:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("message_receipts") as batch:
        batch.add_column(
            sa.Column("final_recipient", sa.String(320), nullable=False, server_default="")
        )
        batch.add_column(
            sa.Column(
                "unmatched",
                sa.Enum(
                    "unknown_message",
                    "other_recipient",
                    name="receipt_unmatched",
                    native_enum=False,
                    length=20,
                ),
                nullable=True,
            )
        )
    # The reports kept aside before: they named no e-mail of the outbox.
    op.execute("UPDATE message_receipts SET unmatched = 'unknown_message' WHERE message_id IS NULL")


def downgrade() -> None:
    with op.batch_alter_table("message_receipts") as batch:
        batch.drop_column("unmatched")
        batch.drop_column("final_recipient")
