"""reporting consultation facts: one narrow row per consultation done, with what the CPTS
indicators count, kept up to date by triggers from the view reporting_fact_source, and filled
from it here

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-06 23:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from hub.reporting import facts

revision: str = "0028"
down_revision: str | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "reporting_consultation_facts"
COUNTERS = [
    "referrals",
    "relays_to_mt",
    "relays_to_relay_doctor",
    "relays_sent",
    "relays_pending",
    "relays_failed",
    "relays_cancelled",
]
INDEXES = {
    "ix_reporting_consultation_facts_site": [
        "site_id",
        "at",
        "delay_us",
        "orientation",
        "psychiatric",
        *COUNTERS,
    ],
    "ix_reporting_consultation_facts_patient": ["patient_id", "has_mt", "site_id", "at"],
    "ix_reporting_consultation_facts_site_delay": ["site_id", "delay_us", "at"],
    "ix_reporting_consultation_facts_delay": ["delay_us", "site_id", "at"],
}


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("consultation_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("has_mt", sa.Boolean(), nullable=True),
        sa.Column("delay_us", sa.BigInteger(), nullable=True),
        sa.Column("orientation", sa.String(40), nullable=True),
        sa.Column("psychiatric", sa.Boolean(), nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in COUNTERS),
        sa.ForeignKeyConstraint(
            ["consultation_id"],
            ["consultations.id"],
            name=op.f(f"fk_{TABLE}_consultation_id_consultations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("consultation_id", name=op.f(f"pk_{TABLE}")),
    )
    for name, columns in INDEXES.items():
        op.create_index(name, TABLE, columns)
    connection = op.get_bind()
    facts.install(connection)
    facts.rebuild(connection)


def downgrade() -> None:
    facts.uninstall(op.get_bind())
    op.drop_table(TABLE)
