"""derived_steps: whether actors and indicators are current after the last collection

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 01:45:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import schema.types

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "derived_steps",
        sa.Column("step", sa.String(length=32), nullable=False, comment="actors or indicators"),
        sa.Column(
            "pending",
            sa.Boolean(),
            nullable=False,
            comment="true when the last attempt failed: the next collection runs the step even "
            "if it brings nothing new",
        ),
        sa.Column(
            "succeeded_at",
            schema.types.UTCDateTime(timezone=True),
            nullable=True,
            comment="last success (UTC)",
        ),
        sa.Column("error", sa.Text(), nullable=True, comment="the last failure's reason"),
        sa.PrimaryKeyConstraint("step", name=op.f("pk_derived_steps")),
        comment="Bookkeeping of the steps that rebuild tables from all the data after a "
        "collection (actors, indicators): whether each is current.",
    )


def downgrade() -> None:
    op.drop_table("derived_steps")
