"""Where conversations come from: Rasa's SQL tracker store (one JSON event per
row in table `events`) and the desk's database (handoffs, ratings)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict, List, Optional

import sqlalchemy as sa

REPO = Path(__file__).resolve().parent.parent


def tracker_url(url: Optional[str] = None) -> str:
    """XIAOER_TRACKER_URL (a SQLAlchemy URL or a bare SQLite path), default var/rasa_tracker.db."""
    url = url or os.environ.get("XIAOER_TRACKER_URL") or str(REPO / "var" / "rasa_tracker.db")
    return url if "://" in url else f"sqlite:///{url}"


def sync_url(url: str) -> str:
    """The desk's async URL (sqlite+aiosqlite, postgresql+asyncpg) as a plain one."""
    return url.replace("+aiosqlite", "").replace("+asyncpg", "")


def desk_url(url: Optional[str] = None) -> str:
    return sync_url(url or os.environ.get("XIAOER_DESK_DB_URL") or f"sqlite:///{REPO / 'var' / 'desk.db'}")


_engines: Dict[str, sa.engine.Engine] = {}


def engine(url: str) -> sa.engine.Engine:
    if url not in _engines:
        _engines[url] = sa.create_engine(url, future=True)
    return _engines[url]


def read_events(
    url: str, *, since: Optional[float] = None, until: Optional[float] = None, sender_id: Optional[str] = None
) -> Dict[str, List[Dict[str, Any]]]:
    """Events per sender, in order. A missing database or table is no conversation."""
    eng = engine(url)
    if url.startswith("sqlite:///") and not Path(url[len("sqlite:///") :]).exists():
        return {}
    md = sa.MetaData()
    try:
        events = sa.Table("events", md, autoload_with=eng)
    except sa.exc.NoSuchTableError:
        return {}
    q = sa.select(events.c.sender_id, events.c.data).order_by(events.c.id)
    if sender_id is not None:
        q = q.where(events.c.sender_id == sender_id)
    else:
        senders = sa.select(events.c.sender_id).where(events.c.type_name == "user")
        if since is not None:
            senders = senders.where(events.c.timestamp >= since)
        if until is not None:
            senders = senders.where(events.c.timestamp < until)
        q = q.where(events.c.sender_id.in_(senders.distinct()))
    out: Dict[str, List[Dict[str, Any]]] = {}
    with eng.connect() as conn:
        for sid, data in conn.execute(q):
            try:
                out.setdefault(sid, []).append(json.loads(data))
            except (TypeError, ValueError):
                continue  # a row we cannot read loses that row only
    return out


def read_desk(url: str, sender_ids: List[str]) -> Dict[str, Dict[str, Any]]:
    """Per conversation: handoff reasons (conversation.queued events) and ratings."""
    out: Dict[str, Dict[str, Any]] = {s: {"handoffs": [], "ratings": []} for s in sender_ids}
    if not sender_ids:
        return out
    eng = engine(url)
    if url.startswith("sqlite:///") and not Path(url[len("sqlite:///") :]).exists():
        return out
    md = sa.MetaData()
    try:
        ev = sa.Table("desk_events", md, autoload_with=eng)
        ratings = sa.Table("desk_ratings", md, autoload_with=eng)
    except sa.exc.NoSuchTableError:
        return out
    with eng.connect() as conn:
        for cid, data in conn.execute(
            sa.select(ev.c.conversation_id, ev.c.data)
            .where(ev.c.name == "conversation.queued")
            .where(ev.c.conversation_id.in_(sender_ids))
        ):
            if isinstance(data, str):
                try:
                    data = json.loads(data)
                except ValueError:
                    data = {}
            out[cid]["handoffs"].append((data or {}).get("reason") or "handoff")
        for cid, score in conn.execute(
            sa.select(ratings.c.conversation_id, ratings.c.score).where(ratings.c.conversation_id.in_(sender_ids))
        ):
            out[cid]["ratings"].append(int(score))
    return out
