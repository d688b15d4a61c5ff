"""The caching tracker store stores and returns exactly what Rasa's SQL store does."""

import json
import os
import time
import uuid
from datetime import datetime

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


# the cache alone, and as endpoints.yml configures it (with the retries of rasa_ext/stores.py);
# XIAOER_TEST_PG_URL=postgresql://user@host:port/db also runs them on PostgreSQL (a fresh
# database per test, created there)
PG = os.environ.get("XIAOER_TEST_PG_URL")


@pytest.fixture(
    params=[CachingSQLTrackerStore, CachingResilientSQLTrackerStore]
    + ([pytest.param("pg", id="postgresql")] if PG else [])
)
def stores(request):
    def make(tmp_path):
        if request.param == "pg":
            import sqlalchemy as sa

            name = f"t_{uuid.uuid4().hex[:12]}"
            admin = sa.create_engine(PG, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.exec_driver_sql(f"CREATE DATABASE {name}")
            admin.dispose()
            url = PG.rsplit("/", 1)[0] + "/" + name
            return CachingResilientSQLTrackerStore(DOMAIN, host=url), SQLTrackerStore(DOMAIN, host=url)
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


# issue #11 (longconv): the tracker is handed over, not copied; one marker query per turn


async def test_the_saved_tracker_is_handed_over_without_a_copy(tmp_path, stores):
    cached, plain = stores(tmp_path)
    tracker = DialogueStateTracker("h1", DOMAIN.slots)
    turn(tracker, "你好", 1)
    await cached.save(tracker)
    t = await cached.retrieve("h1")  # read from the database once
    turn(t, "发什么快递", 10)
    await cached.save(t)
    again = await cached.retrieve("h1")
    assert again is t and cached.hits == 1
    assert again.events == (await plain.retrieve("h1")).events


async def test_a_tracker_retrieved_twice_without_a_save_is_read_from_the_database(tmp_path, stores):
    """The desk's tracker read (or a second retrieve) while a turn holds the tracker: each
    gets its own tracker, the turn's save is stored once, and the next turn sees it."""
    cached, plain = stores(tmp_path)
    tracker = DialogueStateTracker("h2", DOMAIN.slots)
    turn(tracker, "你好", 1)
    await cached.save(tracker)
    t = await cached.retrieve("h2")
    await cached.save(t)
    first = await cached.retrieve("h2")  # the turn
    second = await cached.retrieve("h2")  # meanwhile: another reader
    assert second is not first and second.events == first.events
    turn(first, "在吗", 10)
    await cached.save(first)
    got = await cached.retrieve("h2")
    assert [e.text for e in got.events if isinstance(e, UserUttered)] == ["你好", "在吗"]
    assert len(rows(plain, "h2")) == 8


async def test_a_tracker_changed_after_its_save_is_not_handed_out(tmp_path, stores):
    cached, plain = stores(tmp_path)
    tracker = DialogueStateTracker("h3", DOMAIN.slots)
    turn(tracker, "你好", 1)
    await cached.save(tracker)
    t = await cached.retrieve("h3")
    await cached.save(t)
    turn(t, "没保存", 10)  # changed after the save, never saved again
    got = await cached.retrieve("h3")
    assert got is not t and [e.text for e in got.events if isinstance(e, UserUttered)] == ["你好"]


async def test_a_failed_save_leaves_nothing_to_hand_out(tmp_path, stores, monkeypatch):
    cached, plain = stores(tmp_path)
    tracker = DialogueStateTracker("h4", DOMAIN.slots)
    turn(tracker, "你好", 1)
    await cached.save(tracker)
    t = await cached.retrieve("h4")
    await cached.save(t)
    t = await cached.retrieve("h4")
    turn(t, "付款了", 10)

    def broken(*a, **kw):
        raise RuntimeError("disk full")

    monkeypatch.setattr(cached, "_row", broken)
    with pytest.raises(RuntimeError):
        await cached.save(t)
    monkeypatch.undo()
    got = await cached.retrieve("h4")
    assert got is not t and [e.text for e in got.events if isinstance(e, UserUttered)] == ["你好"]
    turn(got, "付款了", 20)
    await cached.save(got)
    assert len(rows(plain, "h4")) == 8


async def test_a_writer_between_retrieve_and_save_keeps_both_turns(tmp_path, stores):
    """Another Rasa worker answers while this one holds the tracker: both turns are
    stored, and this worker reads the conversation again at its next turn."""
    cached, plain = stores(tmp_path)
    tracker = DialogueStateTracker("h5", DOMAIN.slots)
    turn(tracker, "你好", 1)
    await cached.save(tracker)
    t = await cached.retrieve("h5")
    await cached.save(t)
    mine = await cached.retrieve("h5")
    theirs = await plain.retrieve("h5")
    turn(theirs, "乙", 10)
    await plain.save(theirs)
    turn(mine, "甲", 20)
    await cached.save(mine)
    got = await cached.retrieve("h5")
    assert got is not mine
    assert [e.text for e in got.events if isinstance(e, UserUttered)] == ["你好", "乙", "甲"]
    assert got.events == (await plain.retrieve("h5")).events


def test_a_turn_queries_the_marker_once(tmp_path):
    """retrieve + save of a cached conversation: one SELECT (the marker), one INSERT."""
    import sqlalchemy as sa

    store = CachingResilientSQLTrackerStore(DOMAIN, dialect="sqlite", db=str(tmp_path / "t.db"))
    tracker = DialogueStateTracker("h6", DOMAIN.slots)
    turn(tracker, "你好", 1)
    asyncio_run(store.save(tracker))
    asyncio_run(store.save(asyncio_run(store.retrieve("h6"))))
    seen = []
    sa.event.listen(store.engine, "before_cursor_execute", lambda *a: seen.append(a[2].split()[0].upper()))

    async def one_turn(i):
        t = await store.retrieve("h6")
        turn(t, f"第{i}次", 10 + i)
        await store.save(t)

    for i in range(3):
        asyncio_run(one_turn(i))
    assert seen.count("SELECT") == 3 and seen.count("INSERT") == 3
    assert store.hits == 3
    assert [e.text for e in asyncio_run(store.retrieve("h6")).events if isinstance(e, UserUttered)] == [
        "你好",
        "第0次",
        "第1次",
        "第2次",
    ]


def test_a_new_conversation_is_not_read_back_from_the_database(tmp_path):
    """Rasa's first turn of a new conversation, through FailSafeTrackerStore as Rasa wraps
    the store: no row found, the tracker created and saved at once (create_tracker), the
    session started, the message answered, the turn saved (processor.handle_message). One
    SELECT (the marker), no count of stored events, no read of them on the next turn; the
    rows and the trackers are what Rasa's own store has."""
    import sqlalchemy as sa
    from rasa.core.tracker_store import FailSafeTrackerStore

    from rasa_ext.tracker_store import Tracker

    cached = CachingResilientSQLTrackerStore(DOMAIN, dialect="sqlite", db=str(tmp_path / "a.db"))
    plain = SQLTrackerStore(DOMAIN, dialect="sqlite", db=str(tmp_path / "b.db"))
    seen = []
    sa.event.listen(cached.engine, "before_cursor_execute", lambda *a: seen.append(a[2].split()[0].upper()))

    async def first_turn(store, sender, ts):
        tracker = await FailSafeTrackerStore(store).get_or_create_tracker(sender)
        tracker.update(ActionExecuted("action_session_start", timestamp=ts))  # Rasa's session start
        tracker.update(SessionStarted(timestamp=ts + 0.01))
        tracker.update(ActionExecuted("action_listen", timestamp=ts + 0.02))
        turn(tracker, "在吗", ts + 1)
        await store.save(tracker)

    start = time.time() + 5  # the session starts after create_tracker's action_listen, as in Rasa
    for store in (cached, plain):
        asyncio_run(first_turn(store, "n1", start))
    assert seen.count("SELECT") == 1 and seen.count("INSERT") == 2

    def untimed(stored):  # create_tracker's action_listen is stamped with the time of each store's call
        return [(kind, {k: v for k, v in json.loads(data).items() if k != "timestamp"}) for kind, data in stored]

    assert untimed(rows(cached, "n1")) == untimed(rows(plain, "n1"))
    seen.clear()
    got, want = asyncio_run(cached.retrieve("n1")), asyncio_run(plain.retrieve("n1"))
    assert seen == ["SELECT"] and cached.hits == 1  # the marker only: rebuilt from memory
    assert type(got) is Tracker and _state(got) == _state(want)  # the latest session, as Rasa's
    assert [e.type_name for e in got.events][:2] == ["session_started", "action"]
    turn(got, "发什么快递", 200)
    asyncio_run(cached.save(got))
    again = asyncio_run(cached.retrieve("n1"))
    assert again is got and cached.hits == 2  # handed over as any cached conversation


def _state(t):
    """Everything of a tracker's state that its events set."""
    from rasa.shared.core.trackers import EventVerbosity

    return (
        list(t.events),
        {name: (slot.value, slot.has_been_set) for name, slot in t.slots.items()},
        (t._paused, t.followup_action, t.latest_action, t.latest_message, t.latest_bot_utterance, t.active_loop),
        t.current_state(EventVerbosity.ALL),
    )


def _events(rng, i):
    """One step of a conversation with what moves applied_events and the state: forms
    (loops) started, interrupted, rejected and ended, reverts, restarts, pauses, slots."""
    from rasa.shared.core.events import (
        ActionExecutionRejected,
        ActionReverted,
        ActiveLoop,
        ConversationPaused,
        ConversationResumed,
        FollowupAction,
        LoopInterrupted,
        Restarted,
        UserUtteranceReverted,
    )

    ts = 100 + i
    form = rng.choice(["order_form", "return_form"])
    return rng.choice(
        [
            [UserUttered(f"问{i}", {"name": "greet", "confidence": 1.0}, timestamp=ts)],
            [ActionExecuted("utter_greet", timestamp=ts), BotUttered(f"答{i}", timestamp=ts)],
            [ActionExecuted("action_listen", timestamp=ts)],
            [ActionExecuted(form, timestamp=ts), ActiveLoop(form, timestamp=ts)],
            [ActionExecuted(form, timestamp=ts)],
            [LoopInterrupted(True, timestamp=ts)],
            [ActionExecutionRejected(form, timestamp=ts)],
            [ActiveLoop(None, timestamp=ts)],
            [UserUtteranceReverted(timestamp=ts)],
            [ActionReverted(timestamp=ts)],
            [SlotSet("order_id", f"T{i}", timestamp=ts)],
            [SlotSet("order_id", None, timestamp=ts)],
            [ConversationPaused(timestamp=ts)],
            [ConversationResumed(timestamp=ts)],
            [FollowupAction("utter_greet", timestamp=ts)],
            [Restarted(timestamp=ts)] if rng.random() < 0.2 else [],
        ]
    )


def test_the_store_trackers_applied_events_and_copies_are_rasas():
    """At every step of 300 random conversation steps (a fixed seed), the store's tracker
    gives Rasa's applied_events, continued or computed afresh, and its copy has the state
    Rasa's copy (a replay of every event) has."""
    import random

    from rasa_ext.tracker_store import Tracker

    rng = random.Random(11)
    ours, theirs = Tracker("m1", DOMAIN.slots), DialogueStateTracker("m1", DOMAIN.slots)
    for i in range(300):
        for event in _events(rng, i):
            ours.update(event)
            theirs.update(event)
        if rng.random() < 0.7:  # sometimes two steps before the next look
            mine = ours.applied_events()
            assert mine == theirs.applied_events() == ours.applied_events()
            mine.append("a caller's own list")  # changing it changes no one else's
        copied, rasas = ours.copy(), theirs.copy()
        assert isinstance(copied, Tracker) and _state(copied) == _state(rasas) == _state(theirs)
        assert copied.applied_events() == rasas.applied_events()
        if rng.random() < 0.3:
            ours = copied  # go on with the copy, as Rasa's processor does with its temporary tracker
        assert ours.applied_events() == theirs.applied_events()


def _every_kind_of_event(ts):
    """One event of each type a conversation of ours stores (and the rarer ones Rasa has)."""
    from rasa.shared.core import events as ev

    return [
        ev.SlotSet("order_id", "E2026120100001", timestamp=ts + 0.02),
        ev.ActionExecuted("action_listen", timestamp=ts + 0.03),
        ev.UserUttered(
            "查一下订单",
            {"name": "ask_courier", "confidence": 0.9},
            [{"entity": "order_id", "value": "E2026120100001", "start": 0, "end": 3}],
            timestamp=ts + 0.04,
            input_channel="xiaoer",
        ),
        ev.DefinePrevUserUtteredFeaturization(False, timestamp=ts + 0.05),
        ev.EntitiesAdded([{"entity": "order_id", "value": "E2026120100001"}], timestamp=ts + 0.06),
        ev.ActiveLoop("return_form", timestamp=ts + 0.07),
        ev.LoopInterrupted(True, timestamp=ts + 0.08),
        ev.ActionExecutionRejected("return_form", timestamp=ts + 0.09),
        ev.FollowupAction("action_handle_fallback", timestamp=ts + 0.10),
        ev.BotUttered("你好", {"elements": None}, {"utter_action": "utter_greet"}, timestamp=ts + 0.11),
        ev.ReminderScheduled("EXTERNAL_follow_up", datetime(2026, 12, 2, 9, 0), name="r1", timestamp=ts + 0.12),
        ev.ReminderCancelled(name="r1", timestamp=ts + 0.13),
        ev.ConversationPaused(timestamp=ts + 0.14),
        ev.ConversationResumed(timestamp=ts + 0.15),
        ev.AgentUttered("人工客服来了", timestamp=ts + 0.16),
        ev.UserUtteranceReverted(timestamp=ts + 0.17),
        ev.ActionReverted(timestamp=ts + 0.18),
        ev.AllSlotsReset(timestamp=ts + 0.19),
        ev.ActiveLoop(None, timestamp=ts + 0.20),
        ev.ActionExecuted("action_listen", timestamp=ts + 0.21),
    ]


async def test_a_cold_read_gives_rasas_events_of_every_kind(tmp_path, stores):
    """A worker that starts again reads a long session from the database (no cache yet):
    every kind of event comes back as Rasa's own store gives it, in order."""
    ours, rasas = stores(tmp_path)
    tracker = DialogueStateTracker("cold", DOMAIN.slots)
    ts = time.time()
    tracker.update(ActionExecuted("action_session_start", timestamp=ts - 1))
    tracker.update(SessionStarted(timestamp=ts - 0.9))
    for i in range(30):  # a long session, every kind of event many times over
        for e in _every_kind_of_event(ts + i):
            tracker.update(e)
    await rasas.save(tracker)
    cold = type(ours)(
        DOMAIN, **({"dialect": "sqlite", "db": str(tmp_path / "t.db")} if not PG else {"host": ours.host})
    )
    mine, theirs = await cold.retrieve("cold"), await rasas.retrieve("cold")
    # Rasa's latest session: from SessionStarted's timestamp on (not action_session_start's)
    assert len(theirs.events) == 1 + 30 * len(_every_kind_of_event(ts))
    assert [e.as_dict() for e in mine.events] == [e.as_dict() for e in theirs.events]
    assert [type(e) for e in mine.events] == [type(e) for e in theirs.events]
    assert mine.current_state() == theirs.current_state()


def test_an_event_name_rasa_does_not_know_fails_as_in_rasa():
    from rasa.shared.core.events import deserialise_events as rasas

    from rasa_ext.tracker_store import deserialise_events

    with pytest.raises(ValueError, match="Unknown event name") as ours_error:
        deserialise_events([{"event": "no_such_event", "timestamp": 1.0}])
    with pytest.raises(ValueError, match="Unknown event name") as rasa_error:
        rasas([{"event": "no_such_event", "timestamp": 1.0}])
    assert str(ours_error.value) == str(rasa_error.value)
    assert deserialise_events([{"timestamp": 1.0}]) == rasas([{"timestamp": 1.0}]) == []
