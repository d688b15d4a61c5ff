"""Alembic environment of the desk database (scripts/migrate.py runs it)."""
from alembic import context

from migrations.common import run
from desk.db import metadata

run(context, metadata)
