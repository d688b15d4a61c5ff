"""What both Alembic environments share: the URL (given by scripts/migrate.py in
the config's attributes) with its async driver swapped for the sync one
(Alembic runs synchronously; psycopg2 and sqlite3 are both installed)."""

from __future__ import annotations

from sqlalchemy import create_engine, pool
from sqlalchemy.engine import make_url

SYNC = {"postgresql+asyncpg": "postgresql+psycopg2", "sqlite+aiosqlite": "sqlite"}


def sync_url(url: str) -> str:
    u = make_url(url)
    return u.set(drivername=SYNC.get(u.drivername, u.drivername)).render_as_string(hide_password=False)


def run(context, metadata) -> None:
    url = sync_url(context.config.attributes["url"])
    engine = create_engine(url, poolclass=pool.NullPool, future=True)
    with engine.connect() as conn:
        # render_as_batch: SQLite can only change a table by copying it
        context.configure(
            connection=conn, target_metadata=metadata, compare_type=True, render_as_batch=url.startswith("sqlite")
        )
        with context.begin_transaction():
            context.run_migrations()
