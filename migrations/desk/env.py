"""Alembic environment of the desk database (scripts/migrate.py runs it)."""

from alembic import context

from desk.db import metadata
from migrations.common import run

run(context, metadata)
