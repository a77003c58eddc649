"""actor_link_queue: the ads whose actor links the next actors step must bring up to date

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 03:10:00.000000

The table starts empty: the first actors step after the upgrade finds the step pending or
current as ``derived_steps`` says, and a pending step with an empty queue relinks every ad
(``pipeline.evidence.actors.mentions``), so nothing written before the upgrade is missed.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "actor_link_queue",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
            comment="order of arrival",
        ),
        sa.Column(
            "ad_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
            comment="ads.id; no foreign key, so the loader pays no check (a deleted ad's links "
            "go with it by cascade)",
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_actor_link_queue")),
        comment="Ads whose actor links may be out of date: written since the actors step last "
        "read them (new or changed, seen in a new country, or their advertiser renamed). The "
        "step relinks only these ads and removes exactly the rows it read.",
    )

    _pending_comment(PENDING_NOW)


def downgrade() -> None:
    _pending_comment(PENDING_BEFORE)
    op.drop_table("actor_link_queue")


PENDING_BEFORE = (
    "true when the last attempt failed: the next collection runs the step even if it brings "
    "nothing new"
)
PENDING_NOW = (
    "true when the last attempt failed (or, for a step after actors, when the actors step took "
    "written ads it has not seen): the next collection runs the step even if it brings nothing "
    "new"
)


def _pending_comment(comment: str) -> None:
    """Column comments live in PostgreSQL's catalogue only (SQLite keeps none)."""
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column(
            "derived_steps",
            "pending",
            existing_type=sa.Boolean(),
            existing_nullable=False,
            comment=comment,
        )
