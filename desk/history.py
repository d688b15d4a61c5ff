"""Search and history of conversations, independent of HTTP (desk/team_views.py serves it).

- `search`: conversations by buyer, order number, text, status and date range (days in
  the store's time zone), newest activity first, each with the message that matched.
- `cases`: a buyer's handled cases — each handoff to a person, who took it, when it was
  resolved and how it was rated — over all the buyer's conversations, newest first.
- `live`: conversations with a message in the last minutes, the bot's included, for a
  supervisor to watch (and take over, desk/takeover.py).

What an agent reads here is masked like the conversation view: phone numbers in full only
for the agent who owns the conversation and for supervisors.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Dict, List, Optional
from zoneinfo import ZoneInfo

from sqlalchemy import String, and_, cast, or_, select

from desk import db
from desk.service import aware, mask_phones
from desk.status import Status

HANDOFF_EVENTS = ("conversation.queued", "conversation.waiting_offline")
TAKEN_EVENTS = ("conversation.assigned", "conversation.auto_assigned", "conversation.taken_over")
SNIPPET = 60  # characters either side of the match
EARLIEST, LATEST = date(2000, 1, 1), date(2099, 12, 31)  # the days a search or report may name


@dataclass
class Query:
    text: str = ""
    buyer: str = ""
    order: str = ""
    status: str = ""
    day_from: Optional[date] = None
    day_to: Optional[date] = None  # inclusive
    active_since: Optional[datetime] = None
    active_until: Optional[datetime] = None
    limit: int = 50


class BadQuery(ValueError):
    pass


def parse_query(params: Dict[str, str]) -> Query:
    """From the URL's query (?q=&buyer=&order=&status=&from=YYYY-MM-DD&to=YYYY-MM-DD)."""

    def text(key: str, n: int = 100) -> str:
        v = (params.get(key) or "").strip()
        # control characters (NUL ...) are no search: PostgreSQL refuses them in text
        if len(v) > n or any(ord(ch) < 32 or ord(ch) == 127 for ch in v):
            raise BadQuery(key)
        return v

    def day(key: str) -> Optional[date]:
        v = text(key, 10)
        if not v:
            return None
        try:
            d = date.fromisoformat(v)
        except ValueError:
            raise BadQuery(key) from None
        if not EARLIEST <= d <= LATEST:  # 0001-01-01 in UTC+8 is before the first datetime
            raise BadQuery(key)
        return d

    status = text("status", 24)
    if status and status not in {s.value for s in Status}:
        raise BadQuery("status")
    q = Query(
        text=text("q"),
        buyer=text("buyer", 64),
        order=text("order", 40),
        status=status,
        day_from=day("from"),
        day_to=day("to"),
    )
    if q.day_from and q.day_to and q.day_from > q.day_to:
        raise BadQuery("to")
    return q


def _like(value: str) -> str:
    # the shopper's words are data, not a pattern: % and _ match themselves
    return "%" + value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _snippet(text: str, needle: str) -> str:
    if not needle or needle not in text:
        return text[: 2 * SNIPPET] + ("…" if len(text) > 2 * SNIPPET else "")
    i = text.index(needle)
    start, end = max(0, i - SNIPPET), min(len(text), i + len(needle) + SNIPPET)
    return ("…" if start else "") + text[start:end] + ("…" if end < len(text) else "")


def _day_bounds(d: date, tz: ZoneInfo) -> datetime:
    # in UTC: SQLite keeps the desk's UTC times as text without an offset
    return datetime.combine(d, time(0), tzinfo=tz).astimezone(timezone.utc)


def _visible(conv: Dict[str, Any], viewer: Dict[str, Any]) -> bool:
    """May this viewer read phone numbers of this conversation in full?"""
    return viewer["role"] == "supervisor" or conv.get("assigned_to") == viewer["id"]


async def search(engine, query: Query, viewer: Dict[str, Any], *, tz: str = "Asia/Shanghai") -> List[Dict[str, Any]]:
    c, m, a = db.conversations, db.messages, db.agents
    zone = ZoneInfo(tz)
    conv_where = []
    if query.buyer:
        conv_where.append(c.c.buyer_id.like(_like(query.buyer), escape="\\"))
    if query.status:
        conv_where.append(c.c.status == query.status)
    msg_where = []
    if query.text:
        msg_where.append(m.c.text.like(_like(query.text), escape="\\"))
    if query.order:
        # named in the text, or in the bot's handoff payload (stored as JSON)
        msg_where.append(
            or_(
                m.c.text.like(_like(query.order), escape="\\"),
                cast(m.c.data, String).like(_like(query.order), escape="\\"),
            )
        )
    if query.day_from:
        msg_where.append(m.c.created_at >= _day_bounds(query.day_from, zone))
    if query.day_to:
        msg_where.append(m.c.created_at < _day_bounds(query.day_to + timedelta(days=1), zone))
    if query.active_since:
        msg_where.append(m.c.created_at >= query.active_since)
    if query.active_until:
        msg_where.append(m.c.created_at <= query.active_until)
    cols = [c, a.c.name.label("agent_name")]
    joined = c.outerjoin(a, a.c.id == c.c.assigned_to)
    found: Dict[str, Dict[str, Any]] = {}
    async with engine.connect() as conn:
        if msg_where:
            rows = (
                await conn.execute(
                    select(
                        *cols,
                        m.c.id.label("m_id"),
                        m.c.sender.label("m_sender"),
                        m.c.text.label("m_text"),
                        m.c.created_at.label("m_at"),
                    )
                    .select_from(joined.join(m, m.c.conversation_id == c.c.id))
                    .where(and_(*conv_where, *msg_where))
                    .order_by(m.c.id.desc())
                    .limit(2000)
                )
            ).all()
            for r in rows:
                hit = found.get(r.id)
                if hit is None:
                    hit = found[r.id] = {"row": r, "matches": 0}
                hit["matches"] += 1
        else:
            q = select(*cols).select_from(joined)
            if conv_where:
                q = q.where(and_(*conv_where))
            rows = (await conn.execute(q.order_by(c.c.updated_at.desc()).limit(query.limit))).all()
            for r in rows:
                found[r.id] = {"row": r, "matches": 0}
    out = []
    for hit in list(found.values())[: query.limit]:
        r = hit["row"]
        conv = dict(r._mapping)
        full = _visible(conv, viewer)
        show = (lambda t: t) if full else mask_phones
        item = {
            "id": conv["id"],
            "buyer_id": conv["buyer_id"],
            "status": conv["status"],
            "reason": conv["reason"],
            "category": conv["category"],
            "priority": conv["priority"],
            "summary": show(conv["summary"] or ""),
            "agent": conv["agent_name"],
            "updated_at": aware(conv["updated_at"]).isoformat(),
            "matches": hit["matches"],
        }
        if "m_id" in conv:
            needle = query.text or query.order
            item["match"] = {
                "id": conv["m_id"],
                "sender": conv["m_sender"],
                "text": show(_snippet(conv["m_text"] or "", needle)),
                "at": aware(conv["m_at"]).isoformat(),
            }
        out.append(item)
    return out


async def live(engine, viewer: Dict[str, Any], *, now: datetime, minutes: int = 30) -> List[Dict[str, Any]]:
    """Conversations someone wrote in during the last `minutes`, the newest message first."""
    return await search(engine, Query(active_since=now - timedelta(minutes=minutes), active_until=now), viewer)


async def cases(engine, buyer_id: str, viewer: Dict[str, Any]) -> List[Dict[str, Any]]:
    """The buyer's handled cases, newest first: each handoff (queued or left as a message
    off duty) with its reason, category and summary, who took it, when and by whom it was
    resolved, and its rating. A case with no resolution yet is the open one (`open`)."""
    c, e, r, a = db.conversations, db.events, db.ratings, db.agents
    async with engine.connect() as conn:
        convs = {
            row.id: dict(row._mapping) for row in (await conn.execute(select(c).where(c.c.buyer_id == buyer_id))).all()
        }
        if not convs:
            return []
        evs = (await conn.execute(select(e).where(e.c.conversation_id.in_(list(convs))).order_by(e.c.id))).all()
        rts = (await conn.execute(select(r).where(r.c.conversation_id.in_(list(convs))).order_by(r.c.id))).all()
        names = dict((await conn.execute(select(a.c.id, a.c.name))).all())
    found: List[Dict[str, Any]] = []
    current: Dict[str, Dict[str, Any]] = {}  # conversation id -> its open case
    for ev in evs:
        data = ev.data or {}
        cid = ev.conversation_id
        case = current.get(cid)
        if ev.name in HANDOFF_EVENTS and case is None:
            case = current[cid] = {
                "conversation_id": cid,
                "started_at": aware(ev.created_at),
                "reason": data.get("reason"),
                "category": data.get("category"),
                "summary": data.get("summary") or "",
                "agent": None,
                "resolved_at": None,
                "resolved_by": None,
                "rating": None,
                "open": True,
            }
            found.append(case)
        elif case is None:
            continue
        elif ev.name == "conversation.requalified":
            case.update({k: data.get(k) or case[k] for k in ("reason", "category", "summary")})
        elif ev.name in TAKEN_EVENTS or (ev.name == "conversation.transferred" and data.get("to") != "supervisor"):
            case["agent"] = data.get("to") or ev.actor
        elif ev.name == "conversation.resolved":
            case.update(resolved_at=aware(ev.created_at), resolved_by=ev.actor, open=False)
            del current[cid]
    for rt in rts:
        # a rating answers the last case of its conversation resolved before it
        at = aware(rt.created_at)
        done = [
            k
            for k in found
            if k["conversation_id"] == rt.conversation_id
            and k["resolved_at"]
            and k["resolved_at"] <= at
            and k["rating"] is None
        ]
        if done:
            done[-1]["rating"] = rt.score
            done[-1]["rated_agent"] = names.get(rt.agent_id)
    out = []
    for k in reversed(found):
        full = _visible(convs[k["conversation_id"]], viewer)
        out.append(
            {
                **k,
                "summary": k["summary"] if full else mask_phones(k["summary"]),
                "started_at": k["started_at"].isoformat(),
                "resolved_at": k["resolved_at"].isoformat() if k["resolved_at"] else None,
            }
        )
    return out


async def resolved(engine, viewer: Dict[str, Any], *, limit: int = 50) -> List[Dict[str, Any]]:
    """The resolved list: conversations by their latest resolution, newest first, with who
    resolved it and the rating given after it (a rated conversation is the bot's again, so
    this is not the same as status = resolved)."""
    c, e, r = db.conversations, db.events, db.ratings
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                select(c, e.c.actor.label("resolved_by"), e.c.created_at.label("resolved_at"))
                .select_from(e.join(c, c.c.id == e.c.conversation_id))
                .where(e.c.name == "conversation.resolved")
                .order_by(e.c.id.desc())
                .limit(limit * 4)
            )
        ).all()
        seen: Dict[str, Any] = {}
        for row in rows:
            if row.id not in seen and len(seen) < limit:
                seen[row.id] = row
        scores: Dict[str, int] = {}
        if seen:
            for cid, score, at in (
                await conn.execute(
                    select(r.c.conversation_id, r.c.score, r.c.created_at)
                    .where(r.c.conversation_id.in_(list(seen)))
                    .order_by(r.c.id)
                )
            ).all():
                if aware(at) >= aware(seen[cid].resolved_at):
                    scores.setdefault(cid, score)
    out = []
    for cid, row in seen.items():
        conv = dict(row._mapping)
        full = _visible(conv, viewer)
        out.append(
            {
                "id": cid,
                "buyer_id": conv["buyer_id"],
                "status": conv["status"],
                "reason": conv["reason"],
                "category": conv["category"],
                "priority": conv["priority"],
                "summary": (conv["summary"] or "") if full else mask_phones(conv["summary"] or ""),
                "resolved_by": conv["resolved_by"],
                "resolved_at": aware(conv["resolved_at"]).isoformat(),
                "rating": scores.get(cid),
                "updated_at": aware(conv["updated_at"]).isoformat(),
            }
        )
    return out
