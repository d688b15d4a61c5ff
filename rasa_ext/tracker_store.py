"""Rasa's SQL tracker store, with the trackers it last read or wrote kept in memory.

endpoints.yml: `tracker_store: type: rasa_ext.tracker_store.CachingSQLTrackerStore`
with the same settings as `type: SQL` (dialect, url, ...): the database, its
tables and rows are exactly Rasa's, so the desk, `rasa export` and a plain
`type: SQL` read them as before.

Why (measured, README "How fast"): Rasa's SQL store rebuilds the tracker of the
current session from the database on every message: a query, `json.loads` and
`Event.from_parameters` for each stored event, then every event replayed. On a
conversation of 130 events that was 90 ms per turn on this box, and it grows with
the conversation. Its `save` counts the stored events again to find the new ones.

Here a tracker comes from memory when the database still holds exactly what this
process last saw for that conversation: `count(*)` and `max(id)` of the sender's
rows (one indexed query, a prebuilt Core statement, ~0.02 ms) must match. Any other
writer (another Rasa worker after a fail-over, a tracker edited through another
process's API) changes them, and the tracker is read from the database as before.
After a save that started a new conversation session (SessionStarted), or of a
tracker of Rasa's own class, the next `retrieve` hands out the latest session rebuilt
from the events in memory (those from the latest SessionStarted's timestamp on, Rasa's
`_event_query`), so it returns the latest session only, as Rasa's does, without reading
the database.

A new conversation (issue #11: on a promotion day most conversations are short, and
their first two turns cost 13 ms more in the store than the later ones): a `retrieve`
whose marker finds no row skips the event query, and the tracker Rasa then creates and
saves (`create_tracker`, through FailSafeTrackerStore, so Rasa's own class) is taken as
this process's, its events all new: no count of the stored events, and the next turn is
served from memory.

The tracker itself is handed over, not copied (Rasa's `copy()` replays every event,
O(n) per turn; issue #11, longconv): `retrieve` takes it out of the cache, and only
the `save` of that very object puts it back. A turn that fails before its save leaves
no tracker in the cache, so the next `retrieve` reads the database; a tracker changed
after its save (more events than were saved) is not handed out again either. Only
what this process handed out is saved by "the events since it was handed out"; any
other tracker (the full tracker of the HTTP API's /tracker/events, a second reader's) is
saved Rasa's way (count the stored events) and the entry dropped.

One marker query per turn, at `retrieve`. A save is one transaction (README "How
fast", `benchmarks/tracker_writes.py`): the new events inserted with one executemany
(Rasa's ORM flush sends one INSERT per event and recounts the session's events),
then one COMMIT; the entry then expects the sender's row count to have grown by
exactly those events, and the next retrieve checks that (the count only: max(id) is
not known before it, and is learnt there; rows are never deleted, so a writer's rows
always change the count. A concurrent writer's rows,
even between this process's retrieve and save, make the count differ: the tracker
is read from the database, which holds both writers' events). On SQLite the
transaction takes the write lock at its start (`BEGIN IMMEDIATE`, when the engine is
set up for it: rasa_ext/stores.py), so Rasa's count of the stored events and its
insert hold the lock together, and a second Rasa process never fails an upgrade from
a read to a write lock.

With an event broker the save is Rasa's own (it needs the diff against the stored
tracker) and the entry is dropped.

The trackers this store builds are `Tracker`s below: Rasa's `DialogueStateTracker`
with `applied_events()` remembered and continued, `copy()` a copy of the state
instead of a replay of every event, and an action shown the session's last
`action_turns` shopper turns (endpoints.yml; below).
"""

from __future__ import annotations

import copy
import json
import logging
from collections import OrderedDict
from typing import Any, Dict, Iterable, List, Optional, Set, Text, Tuple

import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.constants import DEFAULT_SENDER_ID
from rasa.shared.core.constants import ACTION_SESSION_START_NAME
from rasa.shared.core.events import (
    ActionExecuted,
    ActionReverted,
    ActiveLoop,
    Event,
    Restarted,
    SessionStarted,
    UserUtteranceReverted,
    UserUttered,
)
from rasa.shared.core.events import deserialise_events as rasa_deserialise_events
from rasa.shared.core.trackers import DialogueStateTracker, EventVerbosity
from rasa.shared.nlu.constants import INTENT_NAME_KEY

logger = logging.getLogger(__name__)

Marker = Tuple[int, Optional[int]]

# Execution option asking for a transaction that takes SQLite's write lock at BEGIN
# (honoured by the engine rasa_ext.stores sets up; ignored by any other engine)
WRITE = "xiaoer_sqlite_write"

# Event classes by type name, as Rasa's Event.resolve_by_type finds them (the first of
# `all_subclasses(Event)` with that name). Rasa walks every subclass for every event it
# reads: on a stored session of ~800 events, after a restart of the worker, that walk was
# most of the read (py-spy: 18 of 19 samples of `from_dict`), and the worker's other
# shoppers waited meanwhile. Built again when a name is not found (a class defined later).
_EVENT_CLASSES: Dict[Text, type] = {}


def _event_class(type_name: Optional[Text]) -> Optional[type]:
    if type_name is None:
        return None
    cls = _EVENT_CLASSES.get(type_name)
    if cls is None:
        from rasa.shared.utils.common import all_subclasses

        _EVENT_CLASSES.clear()
        for sub in all_subclasses(Event):
            _EVENT_CLASSES.setdefault(sub.type_name, sub)
        cls = _EVENT_CLASSES.get(type_name)
    return cls


def deserialise_events(serialised: Iterable[Dict[Text, Any]]) -> List[Event]:
    """Rasa's `events.deserialise_events`, with the class of each event looked up in a table.
    What the table cannot build goes to Rasa's own function (its skip, warning or error)."""
    out: List[Event] = []
    for data in serialised:
        cls = _event_class(data.get("event"))
        event = cls._from_parameters(data) if cls is not None else None
        if event:
            out.append(event)
        else:
            out.extend(rasa_deserialise_events([data]))
    return out


class Tracker(DialogueStateTracker):
    """Rasa's tracker with two passes over the whole session made cheaper (issue #11,
    longconv: the parts of a turn that grew with the conversation and that a tracker
    store can change; `benchmarks/turn_growth.py --stages` measures them).

    `applied_events()` (Rasa calls it about a dozen times per turn) is remembered with
    the events it was computed for, and when events were only appended since, continued
    over the new ones with Rasa's own loop (`_applied` below), unless a new event names a
    loop not seen before (Rasa's pass looks ahead for loop names): then computed afresh.
    Each caller gets its own list, as from Rasa's.

    `copy()` (Rasa's processor copies the tracker before every action) copies the state
    instead of replaying every event into a new tracker: the events (the same objects, as
    Rasa's copy shares them), each slot as it is, the latest message, action and bot
    utterance, the active loop, the follow-up action and the pause. That is the state the
    replay rebuilds (Rasa: the state "MUST be re-creatable by processing all the events");
    a tracker with a length limit or without a domain's slots is copied Rasa's way.

    What an action is shown (`action_turns`, endpoints.yml `tracker_store:`): Rasa posts
    `current_state(EventVerbosity.ALL)` of the tracker to the action server on every
    custom action: every event of the session, each turned into a dict, JSON-encoded,
    sent and parsed by rasa-sdk. That grew with the conversation: at 780 events (a demo
    buyer's session after a few minutes of benchmarks/capacity.py) 394 KB per call and
    ~18 ms of CPU between the two processes, the largest cost of a long conversation's
    turn. Rasa copies a tracker only to run an action on it (`processor._run_action`,
    a form's validation), so a copy's `current_state(ALL)` holds the events from the
    `action_turns`-th latest shopper message on (UserUttered: typed, or a desk's or
    follow-up's external intent) and everything else exactly as Rasa's: every slot's
    value, the latest message, active loop, follow-up action, pause. Our actions look
    back two shopper turns at most (actions/common.set_in_last_turn,
    actions/fallback.previous_turn_was_fallback), rasa-sdk's form validation to the
    latest action; `action_turns` must be at least 2, None shows every event (Rasa's
    payload). The tracker the store keeps, its database rows and Rasa's HTTP API
    (`GET /conversations/<id>/tracker`) are unchanged.
    """

    # set by the store that builds the tracker (endpoints.yml), inherited by its copies
    action_turns: Optional[int] = None
    _for_action = False  # a copy(): what Rasa hands to an action
    _replays: Optional[Dict[Any, Any]] = None

    def replay_snapshots(self) -> Optional[Dict[Any, Any]]:
        """Where rasa_ext.policies keeps its replay snapshots of this tracker (its `_tail`),
        or None for a tracker that is copied Rasa's way (a replay of every event: a
        snapshot's copy would cost what it saves). A copy starts without any."""
        if self._max_event_history is not None or type(self.slots) is not dict:
            return None
        if self._replays is None:
            self._replays = {}
        return self._replays

    # (events deque, len, first event, last event, applied events, loop names) last computed
    _memo: Optional[Tuple[Any, int, Optional[Event], Optional[Event], List[Event], Set[Text]]] = None

    def applied_events(self) -> List[Event]:
        events = self.events
        n = len(events)
        if not n:
            return []
        first, last = events[0], events[-1]
        memo = self._memo
        if memo is not None and memo[0] is events and memo[2] is first:
            done = memo[1]
            if done == n and memo[3] is last:
                return list(memo[4])
            if done < n and events[done - 1] is memo[3]:
                new = [events[i] for i in range(done, n)]
                loop_names = memo[5]
                if not any(isinstance(e, ActiveLoop) and e.name and e.name not in loop_names for e in new):
                    applied = self._applied(new, list(memo[4]), loop_names)
                    self._memo = (events, n, first, last, applied, loop_names)
                    return list(applied)
        loop_names = {e.name for e in events if isinstance(e, ActiveLoop) and e.name}
        applied = self._applied(events, [], loop_names)
        self._memo = (events, n, first, last, applied, loop_names)
        return list(applied)

    def _applied(self, events: Iterable[Event], applied_events: List[Event], loop_names: Set[Text]) -> List[Event]:
        # the loop of Rasa 3.6's DialogueStateTracker.applied_events, from a given start
        for event in events:
            if isinstance(event, (Restarted, SessionStarted)):
                applied_events = []
            elif isinstance(event, ActionReverted):
                self._undo_till_previous(ActionExecuted, applied_events)
            elif isinstance(event, UserUtteranceReverted):
                self._undo_till_previous(UserUttered, applied_events)
                self._undo_till_previous(ActionExecuted, applied_events)
            elif (
                isinstance(event, ActionExecuted)
                and event.action_name in loop_names
                and not self._first_loop_execution_or_unhappy_path(event.action_name, applied_events)
            ):
                self._undo_till_previous_loop_execution(event.action_name, applied_events)
            else:
                applied_events.append(event)
        return applied_events

    def init_copy(self) -> "Tracker":
        # Rasa's init_copy, of this class: what travel_back_in_time() returns, and what the
        # policies' replay starts from (rasa_ext/policies._tail, several times a turn)
        if type(self.slots) is not dict:
            return Tracker(
                self.sender_id or DEFAULT_SENDER_ID,
                self.slots.values(),
                self._max_event_history,
                is_rule_tracker=self.is_rule_tracker,
            )
        new = Tracker(
            self.sender_id or DEFAULT_SENDER_ID, None, self._max_event_history, is_rule_tracker=self.is_rule_tracker
        )
        new.slots = {name: _copied(slot) for name, slot in self.slots.items()}
        for slot in new.slots.values():
            slot.reset()  # what Rasa's __init__ does to the slots it copied (_reset)
        return new

    def copy(self) -> "Tracker":
        if self._max_event_history is not None or type(self.slots) is not dict:
            return self.travel_back_in_time(float("inf"))  # Rasa's copy
        new = self.init_copy()
        new.events.extend(self.events)
        new.slots = {name: _copied(slot) for name, slot in self.slots.items()}
        new._paused = self._paused
        new.followup_action = self.followup_action
        new.latest_action = dict(self.latest_action) if self.latest_action is not None else None
        new.latest_message = self.latest_message
        new.latest_bot_utterance = self.latest_bot_utterance
        new.active_loop = copy.copy(self.active_loop)  # a mutable dataclass (interrupted, rejected)
        if self._memo is not None and self._memo[0] is self.events:
            new._memo = (new.events,) + self._memo[1:]  # the same events: the same applied ones
        new.action_turns, new._for_action = self.action_turns, True
        return new

    def current_state(self, event_verbosity: EventVerbosity = EventVerbosity.NONE) -> Dict[Text, Any]:
        if event_verbosity is not EventVerbosity.ALL or not self._for_action or self.action_turns is None:
            return super().current_state(event_verbosity)
        state = super().current_state(EventVerbosity.NONE)  # everything but the events, Rasa's way
        state["events"] = [e.as_dict() for e in self.action_events()]
        return state

    def action_events(self) -> List[Event]:
        """The events from the `action_turns`-th latest UserUttered on (all if fewer)."""
        window: List[Event] = []
        users = 0
        for event in reversed(self.events):
            window.append(event)
            if isinstance(event, UserUttered):
                users += 1
                if users == self.action_turns:
                    break
        window.reverse()
        return window


def _copied(slot: Any) -> Any:
    """`copy.copy(slot)`, as Rasa copies slots, without copy's generic protocol (__reduce_ex__,
    _reconstruct: ~3 µs a slot, 3.7 % of a worker's CPU at 200 shoppers). Rasa's slot
    classes are plain objects; one that defines its own copying or __slots__ gets copy.copy."""
    cls = type(slot)
    if cls not in _PLAIN_SLOT_CLASSES:
        if (
            hasattr(cls, "__copy__")
            or any(vars(c).get("__slots__") for c in cls.__mro__)  # ABC's empty __slots__ is fine
            or cls.__reduce_ex__ is not object.__reduce_ex__
            or cls.__reduce__ is not object.__reduce__
        ):
            return copy.copy(slot)
        _PLAIN_SLOT_CLASSES.add(cls)
    new = cls.__new__(cls)
    new.__dict__.update(slot.__dict__)
    return new


_PLAIN_SLOT_CLASSES: Set[type] = set()


class _Entry:
    """What this process knows of a conversation: the sender's row count (and max id,
    once read) it expects, the tracker it last handed out or saved, and its events then.
    `rebuild`: that tracker holds more than Rasa's retrieve would return (the events
    before a new session) or is not a `Tracker` (Rasa's FailSafeTrackerStore creates a
    new conversation's); the next retrieve hands out the latest session rebuilt from it."""

    __slots__ = ("count", "max_id", "tracker", "n", "last", "ready", "rebuild")

    def __init__(
        self, count: int, max_id: Optional[int], tracker: DialogueStateTracker, ready: bool, held: Optional[int] = None
    ) -> None:
        self.count, self.max_id, self.ready, self.rebuild = count, max_id, ready, False
        self.hold(tracker, held)

    def hold(self, tracker: DialogueStateTracker, held: Optional[int] = None) -> None:
        """`tracker`, of whose events the first `held` (default: all) are the stored ones."""
        self.tracker = tracker
        self.n = len(tracker.events) if held is None else held
        self.last = tracker.events[self.n - 1] if self.n else None

    def unchanged(self) -> bool:
        """The tracker holds exactly the events it held when it was saved or read."""
        events = self.tracker.events
        return len(events) == self.n and (not self.n or events[-1] is self.last)


class CachingSQLTrackerStore(SQLTrackerStore):
    def __init__(self, *args: Any, cache_size: int = 5000, action_turns: Optional[int] = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cache_size = int(cache_size)
        if action_turns is not None and int(action_turns) < 2:
            # our actions look back two shopper turns (class Tracker)
            raise ValueError(f"tracker_store action_turns: {action_turns!r}, at least 2")
        self.action_turns = None if action_turns is None else int(action_turns)
        self._cache: "OrderedDict[Text, _Entry]" = OrderedDict()
        # senders whose latest retrieve found no row at all (a new conversation), until their save
        self._fresh: "OrderedDict[Text, bool]" = OrderedDict()
        table = self.SQLEvent.__table__
        # built once: a Query per call cost more than the query itself
        self._marker_sql = sa.select(sa.func.count(table.c.id), sa.func.max(table.c.id)).where(
            table.c.sender_id == sa.bindparam("sender_id")
        )
        self._insert_sql = table.insert()
        self.hits = 0
        self.misses = 0

    def _marker(self, session: Any, sender_id: Text) -> Marker:
        count, max_id = session.execute(self._marker_sql, {"sender_id": sender_id}).one()
        return int(count), max_id

    def init_tracker(self, sender_id: Text) -> DialogueStateTracker:
        tracker = Tracker(sender_id, self.domain.slots, max_event_history=self.max_event_history)
        tracker.action_turns = self.action_turns
        return tracker

    def _keep(self, sender_id: Text, entry: _Entry) -> None:
        self._cache[sender_id] = entry
        self._cache.move_to_end(sender_id)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)

    async def retrieve(self, sender_id: Text) -> Optional[DialogueStateTracker]:
        self._fresh.pop(sender_id, None)
        entry = self._cache.get(sender_id)
        if entry is not None and entry.ready and entry.unchanged():
            # a Core connection, not an ORM session: the session's set-up cost more than the query
            with self.engine.connect() as conn:
                count, max_id = conn.execute(self._marker_sql, {"sender_id": sender_id}).one()
            if entry.count == count and entry.max_id in (None, max_id):
                self.hits += 1
                if entry.rebuild:
                    entry.hold(self._latest_session(sender_id, entry.tracker.events))
                    entry.rebuild = False
                entry.max_id, entry.ready = max_id, False  # handed over: back in only by its save
                self._cache.move_to_end(sender_id)
                return entry.tracker
        self.misses += 1
        with self.session_scope() as session:
            count, max_id = self._marker(session, sender_id)
            # Rasa's SQLTrackerStore._retrieve (the latest session), in the marker's transaction
            # only the data column: no ORM object per row (Rasa's filter and order kept)
            query = self._event_query(session, sender_id, fetch_events_from_all_sessions=False)
            rows = query.with_entities(self.SQLEvent.data).all() if count else []
            events = [json.loads(row.data) for row in rows]
        if not count:
            # a new conversation: Rasa creates its tracker and saves it at once (create_tracker)
            self._cache.pop(sender_id, None)
            self._fresh[sender_id] = True
            while len(self._fresh) > self.cache_size:
                self._fresh.popitem(last=False)
            return None
        if not events or not self.domain:
            self._cache.pop(sender_id, None)
            return None
        tracker = Tracker.from_events(sender_id, deserialise_events(events), self.domain.slots)
        tracker.action_turns = self.action_turns
        self._keep(sender_id, _Entry(count, max_id, tracker, ready=False))
        return tracker

    def _latest_session(self, sender_id: Text, events: Iterable[Event]) -> Tracker:
        """What Rasa's retrieve returns, from the events in memory: those from the latest
        SessionStarted's timestamp on (SQLTrackerStore._event_query), replayed into a Tracker."""
        events = list(events)
        starts = [e.timestamp for e in events if isinstance(e, SessionStarted)]
        if starts:
            since = max(starts)
            events = [e for e in events if e.timestamp >= since]
        tracker = Tracker.from_events(sender_id, events, self.domain.slots, self.max_event_history)
        tracker.action_turns = self.action_turns
        return tracker

    async def save(self, tracker: DialogueStateTracker) -> None:
        if self.event_broker is not None:
            # the broker needs Rasa's diff against the stored tracker: Rasa's own way
            self._cache.pop(tracker.sender_id, None)
            await super().save(tracker)
            return
        self._save(tracker)

    def _row(self, sender_id: Text, event: Any) -> Dict[str, Any]:
        # the columns Rasa's SQLTrackerStore.save writes, computed the same way
        data = event.as_dict()
        return {
            "sender_id": sender_id,
            "type_name": event.type_name,
            "timestamp": data.get("timestamp"),
            "intent_name": data.get("parse_data", {}).get("intent", {}).get(INTENT_NAME_KEY),
            "action_name": data.get("name"),
            "data": json.dumps(data),
        }

    def _save(self, tracker: DialogueStateTracker) -> None:
        sender_id = tracker.sender_id
        # out of the cache until the commit: a failed save leaves nothing to hand out
        entry = self._cache.pop(sender_id, None)
        events = tracker.events
        ours = (
            entry is not None
            and entry.tracker is tracker
            and len(events) >= entry.n
            and (not entry.n or events[entry.n - 1] is entry.last)
        )
        if not ours and entry is None and self._fresh.pop(sender_id, None):
            # the new conversation whose retrieve just found no row: all its events are new
            entry, ours = _Entry(0, None, tracker, ready=False, held=0), True
        if ours:
            new = list(events)[entry.n :]  # what this process added since it handed it out
            if new:
                rows = [self._row(sender_id, e) for e in new]
                with self.engine.connect() as conn:
                    conn = conn.execution_options(**{WRITE: True})  # SQLite: BEGIN IMMEDIATE
                    with conn.begin():
                        conn.execute(self._insert_sql, rows)
        else:
            # not what this process handed out (the HTTP API's full tracker, a second
            # retrieve meanwhile): Rasa's count of the stored events
            with self.session_scope() as session:
                session.connection(execution_options={WRITE: True})  # SQLite: BEGIN IMMEDIATE
                new = list(self._additional_events(session, tracker))
                if new:
                    session.execute(self._insert_sql, [self._row(sender_id, e) for e in new])
                session.commit()
            return  # read from the database next time
        entry.count += len(new)
        entry.max_id = None if new else entry.max_id  # learnt again at the next retrieve
        entry.hold(tracker)
        entry.ready = True
        # a new session (retrieve returns the latest one only, as Rasa's), or Rasa's own tracker
        # class: the next retrieve rebuilds the tracker from these events, without the database
        entry.rebuild = (
            entry.rebuild
            or type(tracker) is not Tracker
            or any(
                isinstance(e, SessionStarted) or getattr(e, "action_name", None) == ACTION_SESSION_START_NAME
                for e in new
            )
        )
        self._keep(sender_id, entry)

    def stats(self) -> Dict[str, int]:
        return {"hits": self.hits, "misses": self.misses, "cached": len(self._cache)}
