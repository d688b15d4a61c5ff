"""Read-only look-ups the console API and the uploads need, kept out of the handlers
(the writes and the state machine are in desk/service.py)."""

from __future__ import annotations

from typing import Any, Dict, List, Tuple

from sqlalchemy import select

from desk import db


async def conversation_ids_of_buyer(engine: Any, buyer_id: str) -> List[str]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(db.conversations.c.id).where(db.conversations.c.buyer_id == buyer_id))
        return [r[0] for r in rows.all()]


async def buyer_views(engine: Any, *, limit: int = 500) -> List[Dict[str, Any]]:
    """The buyer.viewed audit records (who saw which buyer's data), newest first."""
    q = select(db.events).where(db.events.c.name == "buyer.viewed").order_by(db.events.c.id.desc()).limit(limit)
    async with engine.connect() as conn:
        return [dict(r._mapping) for r in (await conn.execute(q)).all()]


async def agents(engine: Any) -> List[Any]:
    """Every account: id, name, number (工号) and role."""
    async with engine.connect() as conn:
        return (
            await conn.execute(select(db.agents.c.id, db.agents.c.name, db.agents.c.number, db.agents.c.role))
        ).all()


async def has_agents(engine: Any) -> bool:
    async with engine.connect() as conn:
        return (await conn.execute(select(db.agents.c.id).limit(1))).first() is not None


async def events_and_ratings(engine: Any, conversation_id: str) -> Tuple[List[Dict[str, Any]], List[Dict[str, Any]]]:
    """A conversation's recorded events in order, and its ratings."""
    async with engine.connect() as conn:
        evs = (
            await conn.execute(
                select(db.events).where(db.events.c.conversation_id == conversation_id).order_by(db.events.c.id)
            )
        ).all()
        rts = (await conn.execute(select(db.ratings).where(db.ratings.c.conversation_id == conversation_id))).all()
    return [dict(e._mapping) for e in evs], [dict(r._mapping) for r in rts]
