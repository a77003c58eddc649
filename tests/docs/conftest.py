"""Fixture databases of the analyst features (see tests/analyst_db.py)."""

from tests.analyst_db import _analyst_databases, hand_db, replica_db  # noqa: F401
