"""Rasa's stores, made to ride out a dead worker and a database restart
(endpoints.yml `lock_store:` and `tracker_store:` name these classes).

LeasedRedisLockStore: Rasa's Redis ticket lock, but a ticket is a short lease
that its holder renews while it waits and while it works. Rasa's own tickets
live 60 s (TICKET_LOCK_LIFETIME, read once at import): a worker killed with
kill -9 mid-turn left its ticket behind, and the worker the desk failed over
to waited up to a minute for it, long after the desk had given up. Here a dead
worker's ticket is gone after `lock_lifetime` (5 s by default), a slow live one
keeps its own for as long as it needs.

ResilientSQLTrackerStore: Rasa's SQL tracker store with pool_pre_ping (a
connection PostgreSQL dropped at its restart is replaced, not handed to a
turn) and a few seconds of retries while the database does not answer, so a
PostgreSQL restart costs a turn a short wait instead of an HTTP 500. On SQLite
(the default of `make run`) its engine is `sqlite_engine` below: WAL, one write
transaction per save, a second Rasa process on the same file waits its turn.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from contextlib import asynccontextmanager
from typing import Any, AsyncGenerator, Awaitable, Callable, Optional, Text, TypeVar

from rasa.core.lock import TicketLock
from rasa.core.lock_store import RedisLockStore
from rasa.core.tracker_store import SQLTrackerStore, create_engine_kwargs
from rasa.utils.endpoints import EndpointConfig

log = logging.getLogger(__name__)
T = TypeVar("T")


class LeasedRedisLockStore(RedisLockStore):
    """endpoints.yml:
    lock_store:
      type: rasa_ext.stores.LeasedRedisLockStore
      url: <redis host>   port, password, db, key_prefix: as Rasa's redis lock store
      lock_lifetime: 5    seconds a ticket lives without renewal
      renew_seconds: 1    how often its holder renews it
    """

    def __init__(self, endpoint_config: Optional[EndpointConfig] = None, **kwargs: Any) -> None:
        kw = dict(endpoint_config.kwargs if endpoint_config else {})
        kw.update(kwargs)
        self.lock_lifetime = float(kw.pop("lock_lifetime", 5) or 5)
        self.renew_seconds = float(kw.pop("renew_seconds", 0) or self.lock_lifetime / 5)
        # Rasa's sleep between two looks at a held lock is 1 s: a queued turn waits less
        self.poll_seconds = float(kw.pop("poll_seconds", 0.1) or 0.1)
        host = kw.pop("host", None) or (endpoint_config.url if endpoint_config else None) or "localhost"
        super().__init__(host=host, **{k: v for k, v in kw.items() if v not in (None, "")})

    @asynccontextmanager
    async def lock(
        self, conversation_id: Text, lock_lifetime: float = 0, wait_time_in_seconds: float = 0
    ) -> AsyncGenerator[TicketLock, None]:
        # Rasa calls lock(sender_id) with its defaults: the lease settings here win
        ticket = self.issue_ticket(conversation_id, self.lock_lifetime)
        renewer = asyncio.ensure_future(self._renew(conversation_id, ticket))
        try:
            yield await self._acquire_lock(conversation_id, ticket, self.poll_seconds)
        finally:
            renewer.cancel()
            self.cleanup(conversation_id, ticket)

    async def _renew(self, conversation_id: Text, number: int) -> None:
        while True:
            await asyncio.sleep(self.renew_seconds)
            try:
                self.renew(conversation_id, number)
            except Exception as e:  # Redis restarting: the next round tries again
                log.warning("could not renew lock ticket %s of %s: %s", number, conversation_id, e)

    def renew(self, conversation_id: Text, number: int) -> bool:
        """Push ticket `number`'s expiry `lock_lifetime` ahead; atomic (WATCH/MULTI), so a
        ticket another worker issued at the same moment is not overwritten."""
        key = self.key_prefix + conversation_id
        found = False

        def extend(pipe) -> None:
            nonlocal found
            raw = pipe.get(key)
            if not raw:
                return
            lock = TicketLock.from_dict(json.loads(raw))
            for t in lock.tickets:
                if t.number == number:
                    t.expires = time.time() + self.lock_lifetime
                    found = True
            if found:
                pipe.multi()
                pipe.set(key, lock.dumps())

        self.red.transaction(extend, key)
        return found


class ResilientSQLTrackerStore(SQLTrackerStore):
    """endpoints.yml `tracker_store: type: rasa_ext.stores.ResilientSQLTrackerStore`,
    the same keys as Rasa's SQL store, plus `retry_seconds` (default 10)."""

    def __init__(self, *args: Any, retry_seconds: float = 10, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        import sqlalchemy as sa
        from sqlalchemy.orm import sessionmaker

        url = self.engine.url
        self.engine.dispose()
        if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
            self.engine = sqlite_engine(url, busy_seconds=retry_seconds)
        else:
            self.engine = sa.create_engine(url, pool_pre_ping=True, **create_engine_kwargs(url))
        self.sessionmaker = sessionmaker(bind=self.engine)
        self.retry_seconds = float(retry_seconds)

    async def _retrying(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        from sqlalchemy.exc import DBAPIError, OperationalError

        end = time.monotonic() + self.retry_seconds
        pause = 0.2
        while True:
            try:
                return await call()
            except (OperationalError, DBAPIError) as e:
                # connection-level only: a refused or dropped connection; a bad query raises at once
                if not (isinstance(e, OperationalError) or e.connection_invalidated) or time.monotonic() > end:
                    raise
                log.warning("tracker store %s failed (%s); retrying in %.1f s", what, type(e.orig).__name__, pause)
                await asyncio.sleep(pause)
                pause = min(pause * 2, 1.0)

    async def retrieve(self, sender_id: Text):  # type: ignore[override]
        return await self._retrying("retrieve", lambda: super(ResilientSQLTrackerStore, self).retrieve(sender_id))

    async def retrieve_full_tracker(self, conversation_id: Text):  # type: ignore[override]
        return await self._retrying(
            "retrieve", lambda: super(ResilientSQLTrackerStore, self).retrieve_full_tracker(conversation_id)
        )

    async def save(self, tracker) -> None:  # type: ignore[override]
        # idempotent: Rasa's save adds only the events the database does not hold yet
        await self._retrying("save", lambda: super(ResilientSQLTrackerStore, self).save(tracker))


def sqlite_engine(url: Any, busy_seconds: float = 10):
    """The tracker store's SQLite file set up for several Rasa processes and a turn's one commit
    (measured: benchmarks/tracker_writes.py, README "How fast"):

    - WAL: a reader (another worker's retrieve, the desk's trainer reading conversations)
      never waits for a writer, and a commit appends to the log instead of rewriting pages;
    - synchronous=NORMAL: with WAL no fsync per commit (at checkpoints only); a crash of the
      process loses nothing committed, a power cut at most the last turns, never the file;
    - busy_timeout: a second writer waits for the lock instead of failing at once;
    - the driver's own transaction handling off, BEGIN is ours: `BEGIN IMMEDIATE` for a save
      (execution option WRITE), so the check of the stored events and the insert of the new
      ones hold the write lock together; a plain BEGIN for reads;
    - a kept pool: SQLAlchemy 1.4 gives a SQLite file a NullPool, a new connection (and its
      schema read) per session, two per turn.
    """
    import sqlalchemy as sa
    from sqlalchemy.pool import QueuePool

    from rasa_ext.tracker_store import WRITE

    engine = sa.create_engine(
        url,
        poolclass=QueuePool,
        pool_size=5,
        max_overflow=10,
        connect_args={"check_same_thread": False, "timeout": float(busy_seconds)},
    )

    @sa.event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None  # no implicit BEGIN: the "begin" hook below says which
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={int(float(busy_seconds) * 1000)}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _begin(conn) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(WRITE) else "BEGIN")

    return engine


from rasa_ext.tracker_store import CachingSQLTrackerStore  # noqa: E402  (after the classes it combines with)


class CachingResilientSQLTrackerStore(ResilientSQLTrackerStore, CachingSQLTrackerStore):
    """Both: the retries wrap the cached retrieve/save (method order: retries, cache, Rasa's SQL).

    endpoints.yml `tracker_store: type: rasa_ext.stores.CachingResilientSQLTrackerStore`,
    the keys of Rasa's SQL store plus `retry_seconds`, `cache_size` and `action_turns`."""
