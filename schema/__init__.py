"""adlib's schema: SQLAlchemy models, Alembic migrations and analyst views.

Every module that declares tables is imported here, so ``Base.metadata`` (used by the loader,
Alembic's autogenerate and the data dictionary) is complete whichever module is imported first.
"""

from schema import actor_tables, bulk_tables, practice_tables, report_tables  # noqa: F401
