"""The desk's own database (SQLAlchemy 1.4 Core, async): SQLite by default,
PostgreSQL by URL. Every message, status change, note, rating and warning."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import time
from typing import Any, Callable, Optional, TypeVar

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    bindparam,
    create_engine,
    event,
    select,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import QueuePool

from xiaoer.db import is_sqlite_memory, sqlite_pragmas
from xiaoer.db import open_engine as sqlite_engine

T = TypeVar("T")

log = logging.getLogger("xiaoer.desk.db")
metadata = MetaData()

agents = Table(
    "desk_agents",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(64), unique=True, nullable=False),
    Column("number", String(16), nullable=False),  # 工号, the only thing a shopper sees (G10)
    Column("role", String(16), nullable=False),  # agent | supervisor
    Column("password_hash", String(255), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

sessions = Table(
    "desk_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),  # only a hash: a DB leak is no login
    Column("agent_id", Integer, ForeignKey("desk_agents.id"), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)

conversations = Table(
    "desk_conversations",
    metadata,
    Column("id", String(64), primary_key=True),  # also the Rasa sender id
    Column("buyer_id", String(64), nullable=False, index=True),
    Column("status", String(24), nullable=False),
    Column("reason", String(32)),
    Column("category", String(16)),
    Column("priority", String(8)),
    Column("summary", Text),
    Column("deadline_hours", Integer),
    Column("deadline_at", DateTime(timezone=True)),
    Column("queued_at", DateTime(timezone=True)),
    Column("assigned_to", Integer, ForeignKey("desk_agents.id")),
    Column("for_supervisor", Boolean, nullable=False, default=False),
    Column("overdue", Boolean, nullable=False, default=False),
    Column("contact", String(64)),
    Column("awaiting_rating", Boolean, nullable=False, default=False),
    Column("last_agent_number", String(16)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

messages = Table(
    "desk_messages",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("conversation_id", String(64), ForeignKey("desk_conversations.id"), nullable=False, index=True),
    Column("sender", String(12), nullable=False),  # shopper | bot | agent | system | note
    Column("agent_id", Integer),
    Column("text", Text, nullable=False, default=""),
    Column("data", JSON),  # buttons, image, photos, custom payload
    Column("created_at", DateTime(timezone=True), nullable=False),
    # issue 12 (a desk crash loses nothing): the widget's own id of a shopper message, so a
    # message sent again after a reconnect is stored once (the unique index below) ...
    Column("client_id", String(64)),
    # ... and the desk process answering it (desk/recovery.py: a dead one's turn is finished by another)
    Column("turn_node", String(32)),
    Index("uq_desk_messages_client", "conversation_id", "client_id", unique=True),
)

events = Table(
    "desk_events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("conversation_id", String(64), nullable=False, index=True),
    Column("name", String(48), nullable=False),  # conversation.queued, conversation.assigned ...
    Column("actor", String(64)),
    Column("data", JSON),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

ratings = Table(
    "desk_ratings",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("conversation_id", String(64), nullable=False, index=True),
    Column("agent_id", Integer),
    Column("score", Integer, nullable=False),
    Column("comment", Text, nullable=False, default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

warnings = Table(
    "desk_warnings",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("conversation_id", String(64), nullable=False, index=True),
    Column("trigger", String(16), nullable=False),  # unsatisfied | deadline
    Column("problem", Text, nullable=False),
    Column("handling", Text, nullable=False),
    Column("unhappy", Text, nullable=False),
    Column("step", Integer, nullable=False, default=0),  # index into the ladder
    Column("step_due_at", DateTime(timezone=True), nullable=False),
    Column("close_due_at", DateTime(timezone=True), nullable=False),
    Column("overdue", Boolean, nullable=False, default=False),
    Column("outcome", String(16)),  # None open | satisfied | unsatisfied
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("closed_at", DateTime(timezone=True)),
)

# Every login attempt (kind fail | ok | locked) and every supervisor unlock: the
# throttle counts recent failures from here, and it is the log of who tried what.
login_attempts = Table(
    "desk_login_attempts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(64), nullable=False, index=True),
    Column("address", String(64), nullable=False, index=True),
    Column("kind", String(8), nullable=False),
    Column("actor", String(64)),
    Column("created_at", DateTime(timezone=True), nullable=False, index=True),
)


# Agent presence (online | away | offline) in the database, not in one process's memory:
# every desk process reads the same status when it assigns waiting conversations.
presence = Table(
    "desk_presence",
    metadata,
    Column("agent_id", Integer, ForeignKey("desk_agents.id"), primary_key=True),
    Column("status", String(8), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)


# The statements of every shopper message, built once: `insert().values(...)` or `select().where(x == value)`
# built per message cost SQLAlchemy a new cache key each time (~30 % of the desk's CPU, issue 11).
INSERT_MESSAGE = messages.insert()
# ... and of a new buyer's first socket (a promotion's crowd arrives at once: issue 11)
INSERT_CONVERSATION = conversations.insert()
INSERT_EVENT = events.insert()
SELECT_CONVERSATION = select(conversations).where(conversations.c.id == bindparam("conversation_id"))
# ... and of every shopper socket opening (the buyer's conversation, its history, its read mark)
SELECT_BUYER_CONVERSATION = (
    select(conversations)
    .where(conversations.c.buyer_id == bindparam("buyer_id"))
    .order_by(conversations.c.created_at.desc())
    .limit(1)
)
SELECT_MESSAGES = (
    select(messages).where(messages.c.conversation_id == bindparam("conversation_id")).order_by(messages.c.id)
)
SELECT_LAST_MESSAGE = (
    select(messages)
    .where(messages.c.conversation_id == bindparam("conversation_id"))
    .order_by(messages.c.id.desc())
    .limit(1)
)
SELECT_LAST_EVENT_DATA = (
    select(events.c.data)
    .where(events.c.conversation_id == bindparam("conversation_id"), events.c.name == bindparam("name"))
    .order_by(events.c.id.desc())
    .limit(1)
)


class Database:
    """The engine, with writes taken one at a time on SQLite: its single writer
    otherwise answers "database is locked" when many shoppers write at once.
    Same `begin()` / `connect()` / `dispose()` as an AsyncEngine, and `run()` for
    the few transactions of every shopper message."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.sqlite = engine.url.get_backend_name() == "sqlite"
        self._write = asyncio.Lock() if self.sqlite else None
        self._disposed = 0.0
        self._sync: Optional[Engine] = None
        self._thread: Optional[concurrent.futures.ThreadPoolExecutor] = None
        self._conn: Optional[Connection] = None  # the database thread's own, kept between transactions
        if self.sqlite and not is_sqlite_memory(str(engine.url)):
            self._sync = _sync_sqlite(engine)
            self._thread = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="desk-db")

    async def run(self, work: Callable[[Connection], T], *, write: bool = True) -> T:
        """`work(conn)`, a plain function of a synchronous Connection, in one transaction.

        On a SQLite file it runs whole on the desk's own database thread, through the standard
        sqlite3 driver: one hop off the event loop per transaction, where aiosqlite takes four or
        five per statement (cursor, execute, fetch, close, commit), each a wake-up of the loop.
        Writes still go one at a time (the same lock as `begin()`). Elsewhere (PostgreSQL, an
        in-memory SQLite) it is the async engine's `run_sync`, again if the server dropped the
        connection (`write()`)."""
        if self._sync is None:
            if not write:  # a read takes no write lock, as with connect()
                async with self.connect() as conn:
                    return await conn.run_sync(work)
            return await self.write(lambda conn: conn.run_sync(work))
        loop = asyncio.get_running_loop()
        if not write:
            return await loop.run_in_executor(self._thread, self._in_transaction, work)
        async with self._write:
            return await loop.run_in_executor(self._thread, self._in_transaction, work)

    def _in_transaction(self, work: Callable[[Connection], T]) -> T:
        # one connection kept open on the executor's one thread: a pool checkout, its reset-on-return
        # rollback and the checkin per transaction were ~15 % of a transaction's CPU (issue 11)
        conn = self._conn
        if conn is None or conn.closed or conn.invalidated:
            if conn is not None:
                conn.close()
            conn = self._conn = self._sync.connect()
        with conn.begin():
            return work(conn)

    def _close_sync(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        self._sync.dispose()

    @contextlib.asynccontextmanager
    async def begin(self):
        async with self._write or contextlib.nullcontext():
            conn = await self._connection()
            try:
                async with conn.begin():
                    yield conn
            finally:
                await conn.close()

    @contextlib.asynccontextmanager
    async def connect(self):
        conn = await self._connection()
        try:
            yield conn
        finally:
            await conn.close()

    async def write(self, work, seconds: float = 10.0):
        """`await work(conn)` in one transaction, run again if the server dropped the
        connection under it (PostgreSQL restarting: nothing was committed). For the
        writes that must not be lost, such as a shopper's message."""
        from sqlalchemy.exc import DBAPIError

        end = time.monotonic() + seconds
        while True:
            try:
                async with self.begin() as conn:
                    return await work(conn)
            except DBAPIError as e:
                if not _dropped(e) or time.monotonic() > end:
                    raise
                log.warning("desk database dropped a write (%s); again", type(e.orig).__name__)
                await self._fresh_pool()
                await asyncio.sleep(0.2)

    async def _fresh_pool(self) -> None:
        # after a server restart asyncpg can leave a pooled connection mid-operation ("another
        # operation is in progress"), which pool_pre_ping does not take for a disconnect: drop them all
        if time.monotonic() - self._disposed > 1.0:
            self._disposed = time.monotonic()
            await self.engine.dispose()

    async def _connection(self, seconds: float = 10.0):
        """A connection, waiting up to `seconds` while the database does not take one
        (PostgreSQL restarting): the shopper's message is stored late, not lost.
        Only getting the connection is retried, before anything was sent on it."""
        from sqlalchemy.exc import DBAPIError

        end = time.monotonic() + seconds
        pause = 0.1
        while True:
            conn = self.engine.connect()
            try:
                await conn.start()
                return conn
            except (DBAPIError, OSError) as e:
                if time.monotonic() > end:  # a wrong password, too, ends here (10 s late)
                    raise
                log.warning("desk database unavailable (%s); retrying in %.1f s", type(e).__name__, pause)
                if isinstance(e, DBAPIError):
                    await self._fresh_pool()
                await asyncio.sleep(pause)
                pause = min(pause * 2, 1.0)

    async def dispose(self) -> None:
        if self._thread is not None:
            await asyncio.get_running_loop().run_in_executor(self._thread, self._close_sync)
            self._thread.shutdown(wait=False)
            self._thread = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="desk-db")  # usable again
        await self.engine.dispose()


def _sync_sqlite(engine: AsyncEngine) -> Engine:
    """The same SQLite file through the standard driver, for `Database.run`: the settings
    of xiaoer/db.py (WAL is the file's own; the busy timeout and synchronous=NORMAL are per
    connection), one kept connection (one thread uses it)."""
    url = engine.url.set(drivername="sqlite")
    timeout = 30
    sync = create_engine(
        url,
        future=True,
        poolclass=QueuePool,
        pool_size=1,
        max_overflow=0,
        connect_args={"timeout": timeout, "check_same_thread": False},
    )

    @event.listens_for(sync, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        sqlite_pragmas(dbapi_connection, timeout=timeout)

    return sync


def _dropped(e) -> bool:
    """The server dropped the connection under a statement: nothing was committed."""
    from sqlalchemy.exc import InterfaceError

    return bool(
        e.connection_invalidated or isinstance(e, InterfaceError) or "another operation is in progress" in str(e.orig)
    )


async def open_engine(url: str) -> Database:
    engine = sqlite_engine(url)  # WAL, busy timeout, kept pool: xiaoer/db.py
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
        await conn.run_sync(_add_new_columns)
    return Database(engine)


def _add_new_columns(conn) -> None:
    """A database the desk made itself at start-up (the embedded SQLite of `make run`,
    not under Alembic: no alembic_version table) gets the columns and indexes added
    since it was made, by Alembic's own comparison with the code's tables. Only
    additions: nothing is dropped or changed. A database under Alembic (the scaled
    mode) is upgraded by scripts/migrate.py instead."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from alembic.operations import Operations
    from sqlalchemy import inspect

    if "alembic_version" in inspect(conn).get_table_names():
        return
    context = MigrationContext.configure(conn)
    ops = Operations(context)
    diffs = compare_metadata(context, metadata)
    for d in diffs:
        if isinstance(d, tuple) and d[0] == "add_column":
            log.info("desk database: adding column %s.%s", d[2], d[3].name)
            ops.add_column(d[2], d[3].copy())
    for d in diffs:
        if isinstance(d, tuple) and d[0] == "add_index":
            index = d[1]
            log.info("desk database: adding index %s", index.name)
            ops.create_index(index.name, index.table.name, [c.name for c in index.columns], unique=index.unique)
