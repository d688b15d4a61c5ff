"""The caching tracker store stores and returns exactly what Rasa's SQL store does."""

import pytest
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, SessionStarted, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from rasa_ext.stores import CachingResilientSQLTrackerStore
from rasa_ext.tracker_store import CachingSQLTrackerStore

DOMAIN = Domain.from_yaml("""
version: "3.1"
intents: [greet, ask_courier]
slots:
  order_id: {type: text, mappings: [{type: custom}]}
responses:
  utter_greet: [{text: 你好}]
""")


# the cache alone, and as endpoints.yml configures it (with the retries of rasa_ext/stores.py)
@pytest.fixture(params=[CachingSQLTrackerStore, CachingResilientSQLTrackerStore])
def stores(request):
    def make(tmp_path):
        db = str(tmp_path / "t.db")
        return (request.param(DOMAIN, dialect="sqlite", db=db), SQLTrackerStore(DOMAIN, dialect="sqlite", db=db))

    return make


def turn(tracker, text, ts):
    tracker.update(UserUttered(text, {"name": "greet", "confidence": 1.0}, timestamp=ts))
    tracker.update(ActionExecuted("utter_greet", timestamp=ts + 0.1))
    tracker.update(BotUttered("你好", timestamp=ts + 0.2))
    tracker.update(ActionExecuted("action_listen", timestamp=ts + 0.3))


def rows(store, sender):
    with store.session_scope() as s:
        return [
            (e.type_name, e.data)
            for e in s.query(store.SQLEvent).filter_by(sender_id=sender).order_by(store.SQLEvent.id)
        ]


async def test_a_conversation_is_stored_as_rasa_stores_it(tmp_path, stores):
    cached, plain = stores(tmp_path)
    other = tmp_path / "other.db"
    reference = SQLTrackerStore(DOMAIN, dialect="sqlite", db=str(other))
    for store in (cached, reference):
        tracker = await store.retrieve("s1") or DialogueStateTracker("s1", DOMAIN.slots)
        for i in range(5):
            turn(tracker, f"在吗{i}", 1000 + i)
            await store.save(tracker)
            tracker = await store.retrieve("s1")
        tracker.update(SlotSet("order_id", "T1", timestamp=2000))
        await store.save(tracker)
    assert rows(cached, "s1") == rows(reference, "s1")
    got, want = await cached.retrieve("s1"), await plain.retrieve("s1")
    assert got.events == want.events and got.get_slot("order_id") == "T1"
    assert cached.hits >= 4


async def test_a_handed_out_tracker_changed_but_not_saved_is_not_served(tmp_path, stores):
    cached, plain = stores(tmp_path)
    tracker = DialogueStateTracker("s2", DOMAIN.slots)
    turn(tracker, "你好", 1)
    await cached.save(tracker)
    t = await cached.retrieve("s2")
    turn(t, "不保存", 5)  # a turn that failed before save
    again = await cached.retrieve("s2")
    assert len(again.events) == len((await plain.retrieve("s2")).events) == 4


async def test_another_writer_is_noticed(tmp_path, stores):
    cached, plain = stores(tmp_path)
    tracker = DialogueStateTracker("s3", DOMAIN.slots)
    turn(tracker, "你好", 1)
    await cached.save(tracker)
    await cached.retrieve("s3")
    t = await plain.retrieve("s3")  # another Rasa worker answers one message
    turn(t, "发什么快递", 10)
    await plain.save(t)
    got = await cached.retrieve("s3")
    assert [e.text for e in got.events if isinstance(e, UserUttered)] == ["你好", "发什么快递"]
    turn(got, "谢谢", 20)
    await cached.save(got)
    assert len(rows(plain, "s3")) == 12


async def test_a_new_session_returns_only_the_new_session(tmp_path, stores):
    cached, plain = stores(tmp_path)
    tracker = DialogueStateTracker("s4", DOMAIN.slots)
    turn(tracker, "你好", 1)
    await cached.save(tracker)
    tracker = await cached.retrieve("s4")
    tracker.update(ActionExecuted("action_session_start", timestamp=5000))
    tracker.update(SessionStarted(timestamp=5000))
    tracker.update(ActionExecuted("action_listen", timestamp=5000))
    turn(tracker, "又来了", 5001)
    await cached.save(tracker)
    got, want = await cached.retrieve("s4"), await plain.retrieve("s4")
    assert got.events == want.events
    assert [e.text for e in got.events if isinstance(e, UserUttered)] == ["又来了"]


def test_a_save_is_one_transaction_with_only_the_new_events(tmp_path):
    """A turn's save on SQLite: one BEGIN IMMEDIATE, one INSERT of the new events, one COMMIT."""
    import sqlalchemy as sa

    store = CachingResilientSQLTrackerStore(DOMAIN, dialect="sqlite", db=str(tmp_path / "t.db"))
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    tracker = DialogueStateTracker("s5", DOMAIN.slots)
    turn(tracker, "你好", 1)
    asyncio_run(store.save(tracker))
    tracker = asyncio_run(store.retrieve("s5"))
    seen = []
    sa.event.listen(store.engine, "before_cursor_execute", lambda *a: seen.append((a[2].strip().upper(), a[5])))
    commits = []
    sa.event.listen(store.engine, "commit", lambda conn: commits.append(1))
    turn(tracker, "发什么快递", 10)
    asyncio_run(store.save(tracker))
    inserts = [many for sql, many in seen if sql.startswith("INSERT")]
    assert inserts == [True]  # the 4 new events in one executemany
    # the check of what is stored and the insert hold SQLite's write lock together
    assert seen[0][0] == "BEGIN IMMEDIATE" and len(commits) == 1
    assert len(rows(store, "s5")) == 8


def asyncio_run(coro):
    import asyncio

    return asyncio.run(coro)


def _worker(db: str, name: str, turns: int, start) -> int:
    """One Rasa process: its own store on the shared file, its own conversations."""
    import asyncio

    async def run() -> int:
        store = CachingResilientSQLTrackerStore(DOMAIN, dialect="sqlite", db=db)
        start.wait()
        for i in range(turns):
            sender = f"{name}-{i % 3}"
            tracker = await store.retrieve(sender) or DialogueStateTracker(sender, DOMAIN.slots)
            turn(tracker, f"{name}{i}", 100 + i)
            await store.save(tracker)
        return store.hits

    return asyncio.run(run())


def test_two_rasa_processes_write_one_sqlite_file(tmp_path):
    """make run's two Rasa workers share var/rasa_tracker.db: both write at once, nothing is
    lost or refused ("database is locked"), and a conversation moving to the other worker
    (its own died) continues from everything the first one stored."""
    import asyncio
    import multiprocessing

    db = str(tmp_path / "shared.db")
    CachingResilientSQLTrackerStore(DOMAIN, dialect="sqlite", db=db)  # the tables, as at Rasa's start
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Manager().Event()
    with ctx.Pool(2) as pool:
        jobs = [pool.apply_async(_worker, (db, name, 30, start)) for name in ("a", "b")]
        start.set()
        hits = [j.get(timeout=240) for j in jobs]
    assert all(h >= 20 for h in hits)
    plain = SQLTrackerStore(DOMAIN, dialect="sqlite", db=db)
    for name in ("a", "b"):
        for k in range(3):
            texts = [e.text for e in asyncio.run(plain.retrieve(f"{name}-{k}")).events if isinstance(e, UserUttered)]
            assert texts == [f"{name}{i}" for i in range(k, 30, 3)]

    # fail-over: worker b takes a-0 over (a is dead), then a is back with its stale cache
    a = CachingResilientSQLTrackerStore(DOMAIN, dialect="sqlite", db=db)
    b = CachingResilientSQLTrackerStore(DOMAIN, dialect="sqlite", db=db)
    t = asyncio.run(a.retrieve("a-0"))
    turn(t, "甲", 500)
    asyncio.run(a.save(t))
    t = asyncio.run(b.retrieve("a-0"))
    turn(t, "乙", 600)
    asyncio.run(b.save(t))
    t = asyncio.run(a.retrieve("a-0"))
    assert [e.text for e in t.events if isinstance(e, UserUttered)][-2:] == ["甲", "乙"]
    turn(t, "丙", 700)
    asyncio.run(a.save(t))
    got = [e.text for e in asyncio.run(plain.retrieve("a-0")).events if isinstance(e, UserUttered)]
    assert got[-3:] == ["甲", "乙", "丙"] and len(got) == 13
