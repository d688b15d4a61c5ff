"""Alembic environment of the shop database (scripts/migrate.py runs it)."""

from alembic import context

from migrations.common import run
from shop.sql import metadata

run(context, metadata)
