"""Alembic environment: run migrations on the connection adlib hands over.

adlib configures Alembic programmatically (``pipeline.db``), so there is no alembic.ini: the
connection arrives in ``config.attributes["connection"]``. SQLite gets batch mode, because its
ALTER TABLE cannot drop or change columns.
"""

from __future__ import annotations

from alembic import context

from schema.models import Base
from schema.views import drop_views, include_object

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    connection = config.attributes["connection"]
    # Views are rebuilt at head by pipeline.db.upgrade; dropped first in either direction,
    # because a view pins the tables and columns that a migration alters or drops.
    drop_views(connection)
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        transaction_per_migration=True,
        compare_type=True,
        include_object=include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("adlib runs migrations online only: use `adlib db upgrade`")
run_migrations_online()
