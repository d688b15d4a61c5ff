"""Where the shop's data lives, and which backend serves it.

- `XIAOER_SHOP_DB_URL`: SQLAlchemy async URL of the default SQL backend.
  Default `sqlite+aiosqlite:///var/shop.db`; a relative SQLite path is taken
  from the repository root (not the directory a process starts in, which
  differs between `rasa run actions`, the desk and pytest).
  PostgreSQL: `postgresql+asyncpg://user:pass@host/db` (needs `asyncpg`).
- `XIAOER_SHOP_BACKEND`: `package.module:ClassName` of another `ShopBackend`
  (a real shop's adapter); it is created without arguments and reads its own
  settings.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Callable, Optional

from xiaoer.db import is_sqlite_memory  # noqa: F401  (public here since the shop came first)

ROOT = Path(__file__).resolve().parent.parent
ENV_URL = "XIAOER_SHOP_DB_URL"
ENV_BACKEND = "XIAOER_SHOP_BACKEND"
DEFAULT_URL = "sqlite+aiosqlite:///var/shop.db"


def shop_db_url(url: Optional[str] = None) -> str:
    """The database URL to use: `url`, else $XIAOER_SHOP_DB_URL, else var/shop.db under the repo."""
    from sqlalchemy.engine import make_url

    raw = url or os.environ.get(ENV_URL) or DEFAULT_URL
    u = make_url(raw)
    if (
        u.get_backend_name() == "sqlite"
        and u.database
        and u.database != ":memory:"
        and not u.database.startswith("file:")
        and not os.path.isabs(u.database)
    ):
        u = u.set(database=str(ROOT / u.database))
    return u.render_as_string(hide_password=False)


def load_backend(url: Optional[str] = None, *, clock: Optional[Callable] = None):
    """The configured `ShopBackend` (not started: `await backend.start()`)."""
    spec = os.environ.get(ENV_BACKEND, "").strip()
    if spec and not url:
        module, _, name = spec.partition(":")
        if not name:
            raise ValueError(f"{ENV_BACKEND}: expected 'package.module:ClassName', got {spec!r}")
        cls = getattr(importlib.import_module(module), name)
        return cls()
    from shop.sql import SqlShop

    return SqlShop(url, clock=clock) if clock else SqlShop(url)
