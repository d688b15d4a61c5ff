"""One way to open a database engine for our own stores (desk, follow-ups, shop).

SQLite is the embedded default, PostgreSQL (or any SQLAlchemy async URL) the
scaled one; every SQLite file gets the same settings here, so the three stores
cannot drift apart:

- WAL: readers (history, queue, an order look-up) never wait for a writer, and
  several processes (desk, action server, the demo command) share one file;
- busy_timeout: a second writer waits instead of failing with "database is locked";
- synchronous=NORMAL: safe with WAL, a crash loses no committed transaction;
- a kept pool of connections: SQLAlchemy 1.4 gives aiosqlite a NullPool, i.e. a new
  connection (and its PRAGMAs, ~5 ms) per query.

An in-memory database ("sqlite+aiosqlite://") is one shared connection, or every
session would see its own empty database.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool, NullPool, StaticPool

# Execution option that makes a SQLite transaction take the write lock at BEGIN
# (see `open_engine(..., immediate_writes=True)`).
WRITE = "sqlite_write"


def is_sqlite_memory(url: str) -> bool:
    u = make_url(url)
    return u.get_backend_name() == "sqlite" and (not u.database or u.database == ":memory:")


def sqlite_pragmas(
    dbapi_connection: Any, *, foreign_keys: bool = False, memory: bool = False, timeout: float = 30
) -> None:
    """The settings above, on a new DB-API connection to a SQLite database (any driver)."""
    cursor = dbapi_connection.cursor()
    if foreign_keys:
        cursor.execute("PRAGMA foreign_keys=ON")
    if not memory:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
        cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def open_engine(
    url: str,
    *,
    foreign_keys: bool = False,
    immediate_writes: bool = False,
    timeout: int = 30,
    pool_size: int = 5,
    max_overflow: int = 10,
    kept_pool: bool = True,
    **kwargs: Any,
) -> AsyncEngine:
    """An AsyncEngine for `url`; SQLite gets the settings above.

    `foreign_keys`: enforce FOREIGN KEY constraints (SQLite leaves them off).
    `immediate_writes`: the driver's own transaction handling is turned off and
    BEGIN is ours: `BEGIN IMMEDIATE` on a connection with `execution_options(WRITE=True)`,
    a plain `BEGIN` otherwise. A change that reads, checks and then writes must hold
    the write lock from the read on, or two concurrent changes both pass the check.
    `kept_pool`: False gives a file database a new connection per use (NullPool), for a
    store whose processes contend for writes in short transactions (the follow-up jobs): there
    a kept pool gave "database is locked" without waiting for the busy timeout (measured in
    followup/db.py; a reused connection's stale read snapshot is the likely cause).
    `timeout`: seconds a SQLite writer waits for the lock.
    """
    u = make_url(url)
    kwargs.setdefault("future", True)
    if u.get_backend_name() != "sqlite":
        # a connection the server dropped (PostgreSQL restarted) is replaced when taken from the pool
        kwargs.setdefault("pool_pre_ping", True)
        return create_async_engine(url, **kwargs)
    memory = is_sqlite_memory(url)
    connect_args: Dict[str, Any] = {}
    if immediate_writes:
        connect_args["isolation_level"] = None
    if memory:
        connect_args["check_same_thread"] = False
        kwargs.update(poolclass=StaticPool)
    else:
        if u.database and not u.database.startswith("file:"):
            Path(u.database).parent.mkdir(parents=True, exist_ok=True)
        connect_args["timeout"] = timeout
        if kept_pool:
            kwargs.update(poolclass=AsyncAdaptedQueuePool, pool_size=pool_size, max_overflow=max_overflow)
        else:
            kwargs.update(poolclass=NullPool)
    engine = create_async_engine(url, connect_args=connect_args, **kwargs)

    @event.listens_for(engine.sync_engine, "connect")
    def _pragmas(dbapi_connection, _record) -> None:
        sqlite_pragmas(dbapi_connection, foreign_keys=foreign_keys, memory=memory, timeout=timeout)

    if immediate_writes:

        @event.listens_for(engine.sync_engine, "begin")
        def _begin(conn) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(WRITE) else "BEGIN")

    return engine
