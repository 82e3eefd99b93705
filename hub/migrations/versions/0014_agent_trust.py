"""agent trust

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02 17:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import hub.db

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Measurements the hub refused from each cabin's agent, counted per reason.
    op.create_table(
        "agent_refusals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cabin_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("last_at", hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["cabin_id"],
            ["cabins.id"],
            name=op.f("fk_agent_refusals_cabin_id_cabins"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_refusals")),
        sa.UniqueConstraint("cabin_id", "code", name=op.f("uq_agent_refusals_cabin_id_code")),
    )


def downgrade() -> None:
    op.drop_table("agent_refusals")
