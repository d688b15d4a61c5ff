"""Who is connected: shopper sockets per conversation, agent sockets."""
from __future__ import annotations

import asyncio
import json
import logging
from collections import defaultdict
from typing import Any, Dict, Iterable, Optional, Set

from aiohttp import web

log = logging.getLogger("xiaoer.desk.hub")


class Hub:
    def __init__(self) -> None:
        self.shoppers: Dict[str, Set[web.WebSocketResponse]] = defaultdict(set)
        self.agents: Dict[web.WebSocketResponse, Dict[str, Any]] = {}

    @staticmethod
    async def _send(ws: web.WebSocketResponse, text: str) -> None:
        if ws.closed:
            return
        try:
            await ws.send_str(text)
        except (ConnectionError, RuntimeError) as e:  # a socket closing under us is not an error
            log.debug("send failed: %s", e)

    async def to_shopper(self, conversation_id: str, obj: Dict[str, Any]) -> None:
        text = json.dumps(obj, ensure_ascii=False, default=str)
        await asyncio.gather(*(self._send(ws, text) for ws in list(self.shoppers.get(conversation_id, ()))))

    async def to_agents(self, obj: Dict[str, Any], roles: Optional[Iterable[str]] = None) -> None:
        text = json.dumps(obj, ensure_ascii=False, default=str)
        targets = [ws for ws, a in list(self.agents.items()) if roles is None or a["role"] in roles]
        await asyncio.gather(*(self._send(ws, text) for ws in targets))

    async def close_all(self) -> None:
        for ws in [w for s in self.shoppers.values() for w in s] + list(self.agents):
            await ws.close()
