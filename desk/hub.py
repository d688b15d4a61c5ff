"""Who is connected: shopper sockets per conversation, agent sockets.

One desk process alone delivers to its own sockets. Several desk processes
(the scaled mode) share every update through Redis pub/sub when `url` is set
(XIAOER_DESK_HUB_URL): a shopper on desk A and the agent on desk B see each
other's messages. Each process delivers to its own sockets at once and
publishes once; the others deliver what they receive from the channel to
theirs. Redis rather than PostgreSQL LISTEN/NOTIFY: Redis is there anyway for
Rasa's lock store, it has no 8000-byte payload limit, and it measured a little
faster (README "Running bigger"). The database stays the record: a desk that
misses an update (Redis restarting) still shows it on the next load of the
queue or the conversation.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections import defaultdict
from typing import Any, Dict, Iterable, Optional, Set

from aiohttp import web

log = logging.getLogger("xiaoer.desk.hub")

CHANNEL = "xiaoer:desk:hub"
# json.dumps(obj, ensure_ascii=False, default=str) builds a new encoder per call: the same text, once
_ENCODE = json.JSONEncoder(ensure_ascii=False, default=str).encode


async def cancel(task: Optional[asyncio.Task]) -> None:
    """Stop a background loop (the hub's subscription, the recovery heartbeat) and wait for it."""
    if task is None:
        return
    task.cancel()
    try:
        await task
    except (asyncio.CancelledError, Exception):
        pass


class Hub:
    def __init__(self, url: str = "", channel: str = CHANNEL) -> None:
        self.shoppers: Dict[str, Set[web.WebSocketResponse]] = defaultdict(set)
        self.agents: Dict[web.WebSocketResponse, Dict[str, Any]] = {}
        self.url = url
        self.channel = channel
        self.node = uuid.uuid4().hex  # this process: its own publications are not delivered twice
        self._redis = None
        self._task: Optional[asyncio.Task] = None
        self._subscribed = asyncio.Event()

    # ---- sharing between desk processes ------------------------------------------------
    @property
    def redis(self):
        """The desk's one Redis client (None for a desk alone), shared with the heartbeat
        (desk/recovery.py). Without a socket timeout: the subscription waits for messages."""
        return self._redis

    async def start(self) -> None:
        """Subscribe to the shared channel (nothing to do for a desk alone)."""
        if not self.url:
            return
        import redis.asyncio as redis

        self._redis = redis.from_url(self.url)
        self._task = asyncio.ensure_future(self._listen())
        try:
            await asyncio.wait_for(self._subscribed.wait(), 10)
        except asyncio.TimeoutError:
            log.warning("hub: not subscribed to %s yet; retrying in the background", self.channel)

    async def _listen(self) -> None:
        pause = 0.5
        while True:
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                self._subscribed.set()
                pause = 0.5
                async for item in pubsub.listen():
                    if item.get("type") == "message":
                        await self._deliver_remote(item["data"])
            except asyncio.CancelledError:
                await pubsub.close()
                raise
            except Exception as e:  # Redis restarting: resubscribe with a growing pause
                log.warning("hub: lost %s (%s); resubscribing in %.1f s", self.channel, e, pause)
                try:
                    await pubsub.close()
                except Exception:
                    pass
                await asyncio.sleep(pause)
                pause = min(pause * 2, 5.0)

    async def _deliver_remote(self, raw: bytes) -> None:
        try:
            env = json.loads(raw)
        except ValueError:
            return
        if env.get("node") == self.node:
            return
        if env.get("to") == "shopper":
            await self._local_shopper(env["conversation_id"], env["text"])
        elif env.get("to") == "agents":
            await self._local_agents(env["text"], env.get("roles"))

    async def _publish(self, env: Dict[str, Any]) -> None:
        if self._redis is None:
            return
        env["node"] = self.node
        try:
            await self._redis.publish(self.channel, json.dumps(env, ensure_ascii=False))
        except Exception as e:  # the others see it on their next load; this desk's sockets already have it
            log.warning("hub: publish failed: %s", e)

    @property
    def agents_listening(self) -> bool:
        """A console may see an update: one connected here, or (Redis) perhaps on another desk."""
        return bool(self.agents) or self._redis is not None

    # ---- delivery ----------------------------------------------------------------------
    @staticmethod
    async def _send(ws: web.WebSocketResponse, text: str) -> None:
        if ws.closed:
            return
        try:
            await ws.send_str(text)
        except (ConnectionError, RuntimeError) as e:  # a socket closing under us is not an error
            log.debug("send failed: %s", e)

    async def _local_shopper(self, conversation_id: str, text: str) -> None:
        sockets = self.shoppers.get(conversation_id)
        if not sockets:
            return
        if len(sockets) == 1:
            # the usual case, one widget open: sent at once, without gather's task per socket
            # (~3 % of the desk's CPU per shopper message, issue 11)
            (ws,) = sockets
            await self._send(ws, text)
            return
        await asyncio.gather(*(self._send(ws, text) for ws in list(sockets)))

    async def _local_agents(self, text: str, roles: Optional[Iterable[str]]) -> None:
        targets = [ws for ws, a in list(self.agents.items()) if roles is None or a["role"] in roles]
        await asyncio.gather(*(self._send(ws, text) for ws in targets))

    async def to_shopper(self, conversation_id: str, obj: Dict[str, Any]) -> None:
        text = _ENCODE(obj)
        await self._local_shopper(conversation_id, text)
        if self._redis is not None:
            await self._publish({"to": "shopper", "conversation_id": conversation_id, "text": text})

    async def to_agents(self, obj: Dict[str, Any], roles: Optional[Iterable[str]] = None) -> None:
        text = _ENCODE(obj)
        await self._local_agents(text, roles)
        await self._publish({"to": "agents", "text": text, "roles": list(roles) if roles is not None else None})

    async def close_all(self) -> None:
        for ws in [w for s in self.shoppers.values() for w in s] + list(self.agents):
            await ws.close()
        await cancel(self._task)
        self._task = None
        if self._redis is not None:
            await self._redis.close()
            self._redis = None
