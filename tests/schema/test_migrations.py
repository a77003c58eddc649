"""The migrations build exactly the models, on both engines, and every column is documented."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from pipeline import db
from schema.models import Base
from schema.views import include_object


def test_migrated_database_matches_the_models(database_url: str) -> None:
    engine = db.make_engine(database_url)
    db.ensure_schema(engine)
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": False, "include_object": include_object}
        )
        diff = compare_metadata(context, Base.metadata)
    engine.dispose()
    assert diff == [], "models and migrations drifted: write a migration"


def test_every_table_and_column_has_a_comment() -> None:
    missing = [
        f"{table.name}.{column.name}"
        for table in Base.metadata.sorted_tables
        for column in table.columns
        if not column.comment
    ]
    assert missing == []
    assert all(table.comment for table in Base.metadata.sorted_tables)


def test_behind_and_foreign_schemas_are_refused_with_the_fix(database_url: str) -> None:
    engine = db.make_engine(database_url)
    db.upgrade(engine, "0001")
    if db.head_revision() != "0001":
        with pytest.raises(db.DatabaseError, match="run `adlib db upgrade`"):
            db.ensure_schema(engine)
    db.upgrade(engine)
    db.ensure_schema(engine)
    assert "ads" in inspect(engine).get_table_names()
    engine.dispose()
