"""Child tables clustered by ad: ad_targeting keyed (ad_id, id), small ones WITHOUT ROWID

A first Google import spent a tenth of its database on ``ix_ad_targeting_ad_id`` and the
automatic indexes that duplicate the composite primary keys of ``ad_countries`` and
``ad_spend`` beside their rowid tables. ``ad_targeting`` is now keyed ``(ad_id, id)``, where
``id`` is the criterion's 0-based order within its ad (the old ids are renumbered per ad in
their order), so the key serves lookups by ad on both engines and the ad_id index goes. On
SQLite the small child tables keyed by ``(ad_id, ...)`` become ``WITHOUT ROWID``: the key is
the table. No value other than ``ad_targeting.id`` changes.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 00:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

#: Tables keyed ``(ad_id, ...)`` with small rows (ad_creatives and ad_beneficiary_payers
#: keep their rowid: long texts are better off in a rowid table).
_CLUSTERED = (
    "ad_countries",
    "ad_regions",
    "ad_demographics",
    "ad_reach_breakdown",
    "ad_languages",
    "ad_platforms",
    "ad_spend",
    "ad_targeting",
)
_ID_BEFORE = "row id"
_ID = "0-based order of the criterion within its ad, as the platform listed it"
_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _renumber(order_within: str, first: int) -> None:
    """Give ad_targeting rows the ids ``order_within`` numbers from ``first``.

    Two steps through negative ids, so no intermediate value collides with a row not yet
    renumbered, whichever key is in force; the window runs over a materialised snapshot.
    """
    op.execute(
        "UPDATE ad_targeting SET id = -n.rn FROM (SELECT ad_id, id, "
        f"ROW_NUMBER() OVER ({order_within}) AS rn FROM ad_targeting) AS n "
        "WHERE ad_targeting.ad_id = n.ad_id AND ad_targeting.id = n.id"
    )
    op.execute(f"UPDATE ad_targeting SET id = {first - 1} - id")


def _rowid(with_rowid: bool) -> None:
    """SQLite: rebuild the small child tables with or without a rowid."""
    for table in _CLUSTERED:
        if table == "ad_targeting":
            continue
        with op.batch_alter_table(
            table, recreate="always", table_kwargs={"sqlite_with_rowid": with_rowid}
        ):
            pass


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        _rowid(False)
        with op.batch_alter_table(
            "ad_targeting", recreate="always", table_kwargs={"sqlite_with_rowid": False}
        ) as batch:
            batch.drop_index("ix_ad_targeting_ad_id")
            batch.drop_constraint("pk_ad_targeting", type_="primary")
            batch.create_primary_key("pk_ad_targeting", ["ad_id", "id"])
    else:
        op.drop_index("ix_ad_targeting_ad_id", table_name="ad_targeting")
        op.drop_constraint("pk_ad_targeting", "ad_targeting", type_="primary")
        op.create_primary_key("pk_ad_targeting", "ad_targeting", ["ad_id", "id"])
        op.alter_column(
            "ad_targeting",
            "id",
            existing_type=_BIG_ID,
            existing_nullable=False,
            server_default=None,
            comment=_ID,
            existing_comment=_ID_BEFORE,
        )
        op.execute("DROP SEQUENCE IF EXISTS ad_targeting_id_seq")
    _renumber("PARTITION BY ad_id ORDER BY id", 0)


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    # Ids unique over the table again, in (ad_id, order) order, before id alone is the key.
    _renumber("ORDER BY ad_id, id", 1)
    if sqlite:
        _rowid(True)
        with op.batch_alter_table(
            "ad_targeting", recreate="always", table_kwargs={"sqlite_with_rowid": True}
        ) as batch:
            batch.drop_constraint("pk_ad_targeting", type_="primary")
            batch.create_primary_key("pk_ad_targeting", ["id"])
            batch.create_index("ix_ad_targeting_ad_id", ["ad_id"], unique=False)
        return
    op.execute("CREATE SEQUENCE ad_targeting_id_seq OWNED BY ad_targeting.id")
    op.execute(
        "SELECT setval('ad_targeting_id_seq', COALESCE(MAX(id), 0) + 1, false) FROM ad_targeting"
    )
    op.alter_column(
        "ad_targeting",
        "id",
        existing_type=_BIG_ID,
        existing_nullable=False,
        server_default=sa.text("nextval('ad_targeting_id_seq')"),
        comment=_ID_BEFORE,
        existing_comment=_ID,
    )
    op.drop_constraint("pk_ad_targeting", "ad_targeting", type_="primary")
    op.create_primary_key("pk_ad_targeting", "ad_targeting", ["id"])
    op.create_index("ix_ad_targeting_ad_id", "ad_targeting", ["ad_id"], unique=False)
