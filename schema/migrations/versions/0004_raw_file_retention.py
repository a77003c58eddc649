"""raw_records.pruned_at: when keep_files retention deleted a bulk file from the data directory

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 13:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import schema.types

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("raw_records") as batch:
        batch.add_column(
            sa.Column(
                "pruned_at",
                schema.types.UTCDateTime(timezone=True),
                nullable=True,
                comment="bulk files: when retention (keep_files) deleted the kept original; "
                "NULL while it is on disk",
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("raw_records") as batch:
        batch.drop_column("pruned_at")
