"""Analyst views (v_ads, v_ad_regions, ...) and the full-text search index

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 10:00:00.000000

The search objects come from ``schema.views.search``; existing ads are indexed here. The views
themselves are rebuilt from ``schema/views/*.sql`` by ``pipeline.db.upgrade`` once the schema
is at head (a view may read tables that later migrations add), so this migration only drops
them on the way down.
"""

from __future__ import annotations

from alembic import op

from schema.views import drop_views
from schema.views.search import create_search_index, drop_search_index

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    conn = op.get_bind()
    create_search_index(conn)


def downgrade() -> None:
    conn = op.get_bind()
    drop_views(conn)
    drop_search_index(conn)
