"""ads.raw_hash: fingerprint of a bulk file's raw row, so a re-import skips unchanged rows

An unchanged bulk ad is no longer written on a re-import, so the comment of ads.last_seen_at
now says where a listed ad's latest listing time is (PostgreSQL stores comments; SQLite not).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 21:45:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import schema.types

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_LAST_SEEN_BEFORE = "last collected by adlib (UTC)"
_LAST_SEEN = (
    "last collected by adlib (UTC); bulk files: the last listing that wrote the ad, and a "
    "listed ad (delisted_at NULL) is also in its scope's latest listing (checkpoints.state "
    "listed_at)"
)


def _last_seen_comment(comment: str, before: str) -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    op.alter_column(
        "ads",
        "last_seen_at",
        existing_type=schema.types.UTCDateTime(timezone=True),
        existing_nullable=False,
        comment=comment,
        existing_comment=before,
    )


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
    _last_seen_comment(_LAST_SEEN, _LAST_SEEN_BEFORE)


def downgrade() -> None:
    _last_seen_comment(_LAST_SEEN_BEFORE, _LAST_SEEN)
    with op.batch_alter_table("ads") as batch:
        batch.drop_column("raw_hash")
