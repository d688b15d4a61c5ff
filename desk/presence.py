"""Agent presence (online / away / offline) kept in the desk database, so every desk
process sees the same team: the one that receives a handoff assigns it to an agent
whose console is open on another process. An agent with no row is offline."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Dict, List

from sqlalchemy import select

from desk import db

PRESENCE = ("online", "away", "offline")


async def set_status(engine, agent_id: int, status: str, *, at: datetime) -> None:
    """Upsert without dialect-specific SQL: an UPDATE, then an INSERT when there was no row
    (two processes inserting at once: the loser updates instead)."""
    from sqlalchemy.exc import IntegrityError

    async with engine.begin() as conn:
        r = await conn.execute(
            db.presence.update().where(db.presence.c.agent_id == agent_id).values(status=status, updated_at=at)
        )
        if r.rowcount:
            return
    try:
        async with engine.begin() as conn:
            await conn.execute(db.presence.insert().values(agent_id=agent_id, status=status, updated_at=at))
    except IntegrityError:
        async with engine.begin() as conn:
            await conn.execute(
                db.presence.update().where(db.presence.c.agent_id == agent_id).values(status=status, updated_at=at)
            )


async def status_of(engine, agent_id: int) -> str:
    async with engine.connect() as conn:
        s = (await conn.execute(select(db.presence.c.status).where(db.presence.c.agent_id == agent_id))).scalar()
    return s or "offline"


async def all_statuses(engine) -> Dict[int, str]:
    async with engine.connect() as conn:
        rows = (await conn.execute(select(db.presence.c.agent_id, db.presence.c.status))).all()
    return {a: s for a, s in rows}


async def online_agents(engine) -> List[Dict[str, Any]]:
    """The agents whose status is online, as the account rows the desk passes around."""
    a = db.agents
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                select(a.c.id, a.c.name, a.c.number, a.c.role)
                .select_from(a.join(db.presence, db.presence.c.agent_id == a.c.id))
                .where(db.presence.c.status == "online")
                .order_by(a.c.id)
            )
        ).all()
    return [dict(r._mapping) for r in rows]


async def reset(engine, *, at: datetime) -> int:
    """Everyone offline: for a desk that runs alone, at start-up (no console can be open
    yet; a console that reconnects shows the status and the agent picks 在线 again)."""
    async with engine.begin() as conn:
        r = await conn.execute(
            db.presence.update().where(db.presence.c.status != "offline").values(status="offline", updated_at=at)
        )
    return r.rowcount
