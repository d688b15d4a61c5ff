"""The follow-ups' own tables (SQLAlchemy 1.4 Core, async): SQLite under var/
by default, any URL (PostgreSQL for several machines). Due times live here, so
a restart loses nothing; unique keys make "one reminder per order" a database
fact, not a hope."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Optional

from sqlalchemy import JSON, Column, DateTime, Integer, MetaData, String, Table, Text, UniqueConstraint
from sqlalchemy.ext.asyncio import AsyncEngine

from xiaoer.db import open_engine as sqlite_engine

metadata = MetaData()

jobs = Table(
    "followup_jobs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("key", String(128), nullable=False, unique=True),  # delivery_check:<order> - at most one each
    Column("kind", String(24), nullable=False),  # JobKind
    Column("state", String(16), nullable=False, index=True),  # JobState
    Column("buyer_id", String(64), nullable=False, index=True),
    Column("order_id", String(64)),
    Column("promise_id", Integer),
    Column("conversation_id", String(64)),  # the desk conversation it went to
    Column("due_at", DateTime(timezone=True), nullable=False, index=True),
    Column("lease_owner", String(64)),
    Column("lease_until", DateTime(timezone=True)),
    Column("attempts", Integer, nullable=False, default=0),
    Column("values", JSON),  # extra placeholders (a promise's time)
    Column("text", Text),  # what the shopper got (after the guard)
    Column("note", String(64)),  # why it was deferred / skipped
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("sent_at", DateTime(timezone=True)),
)

promises = Table(
    "followup_promises",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("record_id", Integer, nullable=False, unique=True),  # the shop backend's FOLLOW_UP record
    Column("buyer_id", String(64)),
    Column("conversation_id", String(64)),
    Column("order_id", String(64)),
    Column("topic", Text, nullable=False, default=""),
    Column("state", String(16), nullable=False, index=True),  # PromiseState
    Column("due_at", DateTime(timezone=True), nullable=False),
    Column("remind_at", DateTime(timezone=True), nullable=False),
    Column("reminded_at", DateTime(timezone=True)),
    Column("overdue_at", DateTime(timezone=True)),
    Column("kept_at", DateTime(timezone=True)),
    Column("kept_by", String(64)),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

optouts = Table(
    "followup_optouts",
    metadata,
    Column("buyer_id", String(64), primary_key=True),
    Column("text", Text, nullable=False, default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

sends = Table(  # one row per proactive message: the per-shopper rate limit counts these
    "followup_sends",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("buyer_id", String(64), nullable=False, index=True),
    Column("job_id", Integer, nullable=False),
    Column("sent_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("job_id", name="uq_followup_sends_job"),
)

events = Table(
    "followup_events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("subject", String(24), nullable=False),  # job | promise | optout
    Column("subject_id", String(64), nullable=False, index=True),
    Column("name", String(48), nullable=False),  # job.sent, promise.overdue ...
    Column("actor", String(64)),
    Column("data", JSON),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

meta = Table(
    "followup_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", String(255), nullable=False),
)


def aware(dt: Optional[datetime]) -> Optional[datetime]:
    # SQLite gives back naive datetimes; everything here is stored in UTC
    if dt is not None and dt.tzinfo is None:
        return dt.replace(tzinfo=timezone.utc)
    return dt


async def open_followup_db(url: str) -> AsyncEngine:
    # WAL, busy timeout (xiaoer/db.py); a new connection per use, as before the shared helper:
    # with a kept pool, two schedulers on one file failed a write at once with "database is
    # locked" in 1 of 6 runs of tests/followup (two schedulers on one database), 0 of 10 without
    engine = sqlite_engine(url, kept_pool=False)
    # Several desk processes may start on one new database together: create_all checks, then
    # creates, so the loser of that race sees "table ... already exists"; a second pass finds
    # the tables made and creates nothing.
    from sqlalchemy.exc import OperationalError, ProgrammingError

    for attempt in (1, 2):
        try:
            async with engine.begin() as conn:
                await conn.run_sync(metadata.create_all)
            break
        except (OperationalError, ProgrammingError) as e:
            if attempt == 2 or "already exists" not in str(e):
                raise
    return engine


async def store_opt_out(engine: AsyncEngine, buyer_id: str, text: str, at: datetime, actor: str = "bot") -> bool:
    """Remember that this shopper wants no proactive messages (True when new)."""
    from sqlalchemy.exc import IntegrityError

    try:
        async with engine.begin() as conn:
            await conn.execute(optouts.insert().values(buyer_id=buyer_id, text=text[:500], created_at=at))
            await conn.execute(
                events.insert().values(
                    subject="optout", subject_id=buyer_id, name="optout.stored", actor=actor, data={}, created_at=at
                )
            )
        return True
    except IntegrityError:
        return False
