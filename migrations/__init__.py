"""Alembic migrations of the desk and shop databases: `scripts/migrate.py`."""
