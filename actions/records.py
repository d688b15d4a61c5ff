"""What the bot says it has written down is written down: unresolved
questions (C7), suggestions (G7), promised follow-ups with their deadline
(I3 invoice reissue, C3 complaint answer; F4).

Records go to the shop backend (shop/); tests inject a temporary one with
`set_backend()`. The buyer id only ever comes from message metadata.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from typing import Any, Awaitable, Optional

from rasa_sdk import Tracker

from actions.common import metadata

_backend: Optional[Any] = None
_lock = asyncio.Lock()


def set_backend(backend: Any) -> None:
    global _backend
    _backend = backend


async def get_backend() -> Any:
    """The process-wide shop backend, started on first use."""
    global _backend
    if _backend is None:
        async with _lock:
            if _backend is None:
                from shop.config import load_backend

                backend = load_backend()
                await backend.start()
                _backend = backend
    return _backend


def buyer_id(tracker: Tracker) -> Optional[str]:
    value = metadata(tracker).get("buyer_id")
    return str(value) if value else None


async def record_question(tracker: Tracker, text: str) -> Any:
    backend = await get_backend()
    return await backend.record_question(text=text, buyer_id=buyer_id(tracker), conversation_id=tracker.sender_id)


async def record_suggestion(tracker: Tracker, text: str) -> Any:
    backend = await get_backend()
    return await backend.record_suggestion(text=text, buyer_id=buyer_id(tracker), conversation_id=tracker.sender_id)


def due_in(hours: float) -> datetime:
    return datetime.now(timezone.utc) + timedelta(hours=hours)


def record_promise(
    backend: Any, tracker: Tracker, topic: str, due: datetime, order_id: Optional[str] = None
) -> Awaitable[Any]:
    """The one way a promise to come back to this shopper is recorded (F4)."""
    return backend.promise_follow_up(
        buyer_id=buyer_id(tracker), topic=topic, due_at=due, order_id=order_id, conversation_id=tracker.sender_id
    )


async def promise(tracker: Tracker, topic: str, within_hours: float, order_id: Optional[str] = None) -> Any:
    """A follow-up the bot promised, due `within_hours` from now (F4)."""
    return await record_promise(await get_backend(), tracker, topic, due_in(within_hours), order_id)
