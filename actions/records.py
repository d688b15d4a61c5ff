"""What the bot promises to follow up is written down (C7 unresolved
questions, G7 suggestions, I3 invoice reissues, handoffs).

Records go to the shop backend; tests inject a temporary one with
`set_backend()`.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Optional

from rasa_sdk import Tracker

from actions.common import metadata

logger = logging.getLogger(__name__)
_backend: Optional[Any] = None
_lock = asyncio.Lock()


def set_backend(backend: Any) -> None:
    global _backend
    _backend = backend


async def get_backend() -> Any:
    global _backend
    if _backend is None:
        async with _lock:
            if _backend is None:
                from shop import open_backend

                _backend = await open_backend()
    return _backend


async def record(tracker: Tracker, kind: str, text: str, **data: Any) -> None:
    backend = await get_backend()
    await backend.add_note(
        kind=kind,
        buyer_id=metadata(tracker).get("buyer_id"),
        conversation_id=tracker.sender_id,
        text=text,
        data=data,
    )
