"""patient INS authority OID: set only from an answer of the INSi teleservice (the identities
already "récupérée" or "qualifiée" get the OID their number implies)

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-06 05:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("patients") as batch:
        batch.add_column(sa.Column("ins_oid", sa.String(40), nullable=False, server_default=""))
    op.execute(
        "UPDATE patients SET ins_oid = CASE WHEN substr(nir, 1, 1) IN ('7', '8') "
        "THEN '1.2.250.1.213.1.4.9' ELSE '1.2.250.1.213.1.4.8' END "
        "WHERE identity_status IN ('recuperee', 'qualifiee') AND nir <> ''"
    )


def downgrade() -> None:
    with op.batch_alter_table("patients") as batch:
        batch.drop_column("ins_oid")
