import pytest
from shop_helpers import FakeShop

from shop.config import ENV_BACKEND, ENV_URL, ROOT, is_sqlite_memory, load_backend, shop_db_url
from shop.sql import SqlShop


def test_default_database_is_var_shop_db_under_the_repository(monkeypatch):
    monkeypatch.delenv(ENV_URL, raising=False)
    assert shop_db_url() == f"sqlite+aiosqlite:///{ROOT}/var/shop.db"


def test_url_from_environment_and_relative_sqlite_paths(monkeypatch):
    monkeypatch.setenv(ENV_URL, "sqlite+aiosqlite:///data/x.db")
    assert shop_db_url() == f"sqlite+aiosqlite:///{ROOT}/data/x.db"
    assert shop_db_url("sqlite+aiosqlite:////tmp/y.db") == "sqlite+aiosqlite:////tmp/y.db"  # argument wins
    monkeypatch.setenv(ENV_URL, "postgresql+asyncpg://shop:secret@db:5432/shop")
    assert shop_db_url() == "postgresql+asyncpg://shop:secret@db:5432/shop"


def test_in_memory_url():
    assert shop_db_url("sqlite+aiosqlite://") == "sqlite+aiosqlite://"
    assert is_sqlite_memory("sqlite+aiosqlite://") and not is_sqlite_memory("sqlite+aiosqlite:////tmp/y.db")


def test_backend_class_from_environment(monkeypatch):
    monkeypatch.delenv(ENV_BACKEND, raising=False)
    assert isinstance(load_backend("sqlite+aiosqlite://"), SqlShop)
    monkeypatch.setenv(ENV_BACKEND, "shop_helpers:FakeShop")
    assert isinstance(load_backend(), FakeShop)
    monkeypatch.setenv(ENV_BACKEND, "shop_helpers")
    with pytest.raises(ValueError, match=ENV_BACKEND):
        load_backend()
