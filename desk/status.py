"""Conversation status: one enum, one transition function that records an event."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any, Dict, Optional

from sqlalchemy.ext.asyncio import AsyncConnection

from desk import db


class Status(str, enum.Enum):
    BOT = "bot"
    QUEUED = "queued"
    WAITING_OFFLINE = "waiting_offline"
    ASSIGNED = "assigned"
    RESOLVED = "resolved"


ALLOWED = {
    # bot -> assigned: a supervisor watching a live conversation takes it over (desk/takeover.py)
    Status.BOT: {Status.QUEUED, Status.WAITING_OFFLINE, Status.ASSIGNED},
    # waiting -> waiting is a re-qualified item (photos first, then the complaint in words)
    Status.WAITING_OFFLINE: {Status.WAITING_OFFLINE, Status.QUEUED, Status.ASSIGNED, Status.RESOLVED},
    Status.QUEUED: {Status.QUEUED, Status.ASSIGNED, Status.RESOLVED},
    # assigned -> assigned is a transfer to another agent; -> queued goes to the supervisors
    Status.ASSIGNED: {Status.ASSIGNED, Status.QUEUED, Status.RESOLVED},
    # a resolved conversation is the bot's again (the shopper writes on)
    Status.RESOLVED: {Status.BOT, Status.QUEUED, Status.WAITING_OFFLINE},
}

# the event recorded for a move into each status
EVENT = {
    Status.BOT: "conversation.returned_to_bot",
    Status.QUEUED: "conversation.queued",
    Status.WAITING_OFFLINE: "conversation.waiting_offline",
    Status.ASSIGNED: "conversation.assigned",
    Status.RESOLVED: "conversation.resolved",
}


class InvalidTransition(ValueError):
    pass


async def transition(
    conn: AsyncConnection,
    conversation_id: str,
    current: Status,
    new: Status,
    *,
    at: datetime,
    actor: Optional[str] = None,
    event: Optional[str] = None,
    data: Optional[Dict[str, Any]] = None,
    **columns: Any,
) -> str:
    """Move a conversation from `current` to `new` (compare-and-set: if someone
    else moved it first, InvalidTransition) and record the dotted event."""
    current, new = Status(current), Status(new)
    if new not in ALLOWED[current]:
        raise InvalidTransition(f"{current.value} -> {new.value}")
    result = await conn.execute(
        db.conversations.update()
        .where(db.conversations.c.id == conversation_id, db.conversations.c.status == current.value)
        .values(status=new.value, updated_at=at, **columns)
    )
    if result.rowcount != 1:
        raise InvalidTransition(f"{conversation_id} is no longer {current.value}")
    name = event or EVENT[new]
    await conn.execute(
        db.events.insert().values(
            conversation_id=conversation_id, name=name, actor=actor, data=data or {}, created_at=at
        )
    )
    return name
