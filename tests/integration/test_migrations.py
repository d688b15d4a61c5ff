"""scripts/migrate.py: the Alembic migrations make exactly the schema the code
uses, and a database made before migrations existed keeps its data."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from tests.integration.procs import ROOT, base_env


def _migrate(env, *args):
    out = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "migrate.py"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout + out.stderr


def test_migrations_make_the_schema_of_the_code(tmp_path):
    from desk.db import metadata as desk_meta
    from shop.sql import metadata as shop_meta

    env = base_env(tmp_path)
    env.update(
        XIAOER_DESK_DB_URL=f"sqlite+aiosqlite:///{tmp_path / 'desk.db'}",
        XIAOER_SHOP_DB_URL=f"sqlite+aiosqlite:///{tmp_path / 'shop.db'}",
    )
    _migrate(env, "upgrade")
    for name, meta in (("desk", desk_meta), ("shop", shop_meta)):
        engine = create_engine(f"sqlite:///{tmp_path / (name + '.db')}")
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), meta)
        engine.dispose()
        assert diff == [], f"{name}: the code's tables differ from the migrations: {diff}"


def test_a_database_from_before_migrations_keeps_its_data(tmp_path):
    env = base_env(tmp_path)
    env.update(
        XIAOER_SHOP_DB_URL=f"sqlite+aiosqlite:///{tmp_path / 'shop.db'}",
        XIAOER_DESK_DB_URL=f"sqlite+aiosqlite:///{tmp_path / 'desk.db'}",
    )
    demo = subprocess.run(
        [sys.executable, "-m", "shop.demo"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert demo.returncode == 0, demo.stderr
    count = lambda: sqlite3.connect(tmp_path / "shop.db").execute("SELECT count(*) FROM shop_orders").fetchone()[0]
    before = count()
    assert before > 0
    out = _migrate(env, "upgrade", "shop")
    assert "stamped" in out
    assert count() == before
    assert "(head)" in _migrate(env, "current")
