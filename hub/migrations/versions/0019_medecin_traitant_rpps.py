"""medecin traitant rpps: the patient's médecin traitant as documents name them

Their RPPS (11 digits) and their family and given names, beside the free-text name.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06 02:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("patients", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "medecin_traitant_rpps", sa.String(length=11), nullable=False, server_default=""
            )
        )
        batch_op.add_column(
            sa.Column(
                "medecin_traitant_family_name",
                sa.String(length=100),
                nullable=False,
                server_default="",
            )
        )
        batch_op.add_column(
            sa.Column(
                "medecin_traitant_given_name",
                sa.String(length=100),
                nullable=False,
                server_default="",
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("patients", schema=None) as batch_op:
        batch_op.drop_column("medecin_traitant_given_name")
        batch_op.drop_column("medecin_traitant_family_name")
        batch_op.drop_column("medecin_traitant_rpps")
