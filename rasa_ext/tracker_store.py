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
rows (one indexed query, ~0.02 ms) must match. Any other writer (another Rasa
worker after a fail-over, a tracker edited through another process's API) changes
them, and the tracker is read from the database as before. A new conversation
session (SessionStarted) drops the entry, so `retrieve` keeps returning the latest
session only, as Rasa's does. The copy handed out shares the immutable event objects
and has its own state (`DialogueStateTracker.copy`, what Rasa itself uses).

A save is one transaction (README "How fast", `benchmarks/tracker_writes.py`): the
marker checked, the new events inserted with one executemany (Rasa's ORM flush
sends one INSERT per event and recounts the session's events), the new marker
read, then one COMMIT. On SQLite the transaction takes the write lock at its start
(`BEGIN IMMEDIATE`, when the engine is set up for it: rasa_ext/stores.py), so a
second Rasa process writing the same file can neither slip rows in between the
check and the insert nor fail an upgrade from a read to a write lock.
"""

from __future__ import annotations

import json
import logging
from collections import OrderedDict
from typing import Any, Dict, Optional, Text, Tuple

import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.constants import ACTION_SESSION_START_NAME
from rasa.shared.core.events import SessionStarted
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import INTENT_NAME_KEY

logger = logging.getLogger(__name__)

Marker = Tuple[int, Optional[int]]

# Execution option asking for a transaction that takes SQLite's write lock at BEGIN
# (honoured by the engine rasa_ext.stores sets up; ignored by any other engine)
WRITE = "xiaoer_sqlite_write"


class CachingSQLTrackerStore(SQLTrackerStore):
    def __init__(self, *args: Any, cache_size: int = 5000, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cache_size = int(cache_size)
        # sender -> (marker of the sender's rows, tracker of the latest session as stored)
        self._cache: "OrderedDict[Text, Tuple[Marker, DialogueStateTracker]]" = OrderedDict()
        self.hits = 0
        self.misses = 0

    def _marker(self, session: Any, sender_id: Text) -> Marker:
        row = (
            session.query(sa.func.count(self.SQLEvent.id), sa.func.max(self.SQLEvent.id))
            .filter(self.SQLEvent.sender_id == sender_id)
            .one()
        )
        return int(row[0]), row[1]

    def _remember(self, sender_id: Text, marker: Marker, tracker: DialogueStateTracker) -> None:
        self._cache[sender_id] = (marker, tracker.copy())
        self._cache.move_to_end(sender_id)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)

    async def retrieve(self, sender_id: Text) -> Optional[DialogueStateTracker]:
        with self.session_scope() as session:
            marker = self._marker(session, sender_id)
        cached = self._cache.get(sender_id)
        if cached is not None and cached[0] == marker:
            self.hits += 1
            self._cache.move_to_end(sender_id)
            return cached[1].copy()
        self.misses += 1
        tracker = await super().retrieve(sender_id)
        if tracker is None:
            self._cache.pop(sender_id, None)
        else:
            self._remember(sender_id, marker, tracker)
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
        cached = self._cache.get(sender_id)
        events = list(tracker.events)
        with self.session_scope() as session:
            session.connection(execution_options={WRITE: True})  # SQLite: BEGIN IMMEDIATE
            marker = self._marker(session, sender_id)
            known = cached[1] if cached is not None else None
            stored = len(known.events) if known is not None else 0
            if (
                known is not None
                and marker == cached[0]
                and len(events) >= stored
                and (not stored or events[stored - 1] == known.events[-1])
            ):
                new = events[stored:]  # the events since this process last read or wrote it
            else:
                # unknown here, someone else wrote, or not the tracker we handed out: Rasa's count
                self._cache.pop(sender_id, None)
                known = None
                new = list(self._additional_events(session, tracker))
            if new:
                session.execute(self.SQLEvent.__table__.insert(), [self._row(sender_id, e) for e in new])
            after = self._marker(session, sender_id) if known is not None and new else marker
            session.commit()
        if known is None:
            return  # read from the database next time (the latest session only, as Rasa's retrieve)
        if after[0] != marker[0] + len(new) or any(
            isinstance(e, SessionStarted) or getattr(e, "action_name", None) == ACTION_SESSION_START_NAME for e in new
        ):
            # rows not ours (a concurrent writer on a database without the write lock at BEGIN),
            # or a new session, which retrieve returns from there on, as Rasa's does
            self._cache.pop(sender_id, None)
            return
        self._remember(sender_id, after, tracker)

    def stats(self) -> Dict[str, int]:
        return {"hits": self.hits, "misses": self.misses, "cached": len(self._cache)}
