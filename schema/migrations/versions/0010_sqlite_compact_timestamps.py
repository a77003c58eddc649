"""SQLite: timestamps stored without a zero fraction (``2024-01-09 00:00:00``)

adlib now writes a timestamp's ``.ffffff`` on SQLite only when it is not zero
(``schema.types.sqlite_timestamp``); this rewrites the stored ones, so that every column has
one spelling per instant (equality and GROUP BY on the text stay exact). PostgreSQL stores
timestamps as numbers: nothing to do there.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 00:40:00.000000
"""

from __future__ import annotations

from collections.abc import Iterator

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def _timestamp_columns() -> Iterator[tuple[str, str]]:
    """Every (table, column) of type DATETIME in the database as it is (reflected)."""
    inspector = sa.inspect(op.get_bind())
    for table in inspector.get_table_names():
        for column in inspector.get_columns(table):
            if isinstance(column["type"], sa.DateTime):
                yield table, column["name"]


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table, column in _timestamp_columns():
        op.execute(
            f'UPDATE "{table}" SET "{column}" = substr("{column}", 1, 19) '
            f'WHERE length("{column}") = 26 AND "{column}" LIKE \'%.000000\''
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table, column in _timestamp_columns():
        op.execute(
            f'UPDATE "{table}" SET "{column}" = "{column}" || \'.000000\' '
            f'WHERE length("{column}") = 19'
        )
