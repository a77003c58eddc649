"""ads.raw_hash: fingerprint of a bulk file's raw row, so a re-import skips unchanged rows

Revision ID: 0007
Revises: 0005
Create Date: 2026-11-30 21:45:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ads") as batch:
        batch.add_column(
            sa.Column(
                "raw_hash",
                sa.BigInteger(),
                nullable=True,
                comment="bulk files: 64-bit fingerprint of the raw row; a re-import skips rows "
                "it already has without reading them",
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("ads") as batch:
        batch.drop_column("raw_hash")
