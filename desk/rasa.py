"""Rasa over HTTP: the REST channel, the tracker and the tracker events API."""

from __future__ import annotations

import asyncio
import itertools
import logging
import uuid
import zlib
from typing import Any, Dict, List, Optional

import aiohttp

log = logging.getLogger("xiaoer.desk.rasa")

CHANNEL_HEADER = "X-Xiaoer-Channel-Secret"


class RasaUnavailable(Exception):
    pass


class RasaClient:
    """`url` may list several Rasa workers, comma-separated: each conversation goes to
    one of them, chosen by its sender id (the same on every desk process), and to the
    next one when that one is down. Any worker can serve any conversation: they share
    the tracker store and the lock store.

    A worker that refuses the connection got nothing. One that drops it mid-turn
    (killed) may or may not have finished the turn: each turn carries an id in its
    metadata (`desk_turn`), and before the turn is sent again the shared tracker
    is asked whether it holds it; if so its replies are taken from there. So a dead
    worker costs the shopper no message and no answer twice. A worker that is only
    slow (timeout) is not bypassed: it may still answer, and a second worker would
    answer twice; the desk queues that message to a person instead."""

    def __init__(
        self, session: aiohttp.ClientSession, url: str, token: str = "", timeout: float = 10.0, channel_secret: str = ""
    ) -> None:
        self.session = session
        self.urls = [u.strip().rstrip("/") for u in url.split(",") if u.strip()]
        self.url = self.urls[0]
        self.token = token
        self.channel_secret = channel_secret
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self._turns = itertools.count()  # the worker of the next new conversation (new_sender)

    def worker_index(self, sender: str) -> int:
        """`sender`'s own worker (crc32: stable across processes, unlike hash())."""
        return zlib.crc32(sender.encode("utf-8")) % len(self.urls)

    def workers(self, sender: str) -> List[str]:
        """The workers for `sender`, its own first."""
        i = self.worker_index(sender)
        return self.urls[i:] + self.urls[:i]

    def new_sender(self) -> str:
        """A new conversation's id, chosen so that new conversations take the workers in turn.

        A random id's crc32 split 200 conversations 78 / 124 between two workers in one
        capacity run (issue 11): the busier worker's queue made the tail. Every desk process
        still maps an id to the same worker (`worker_index`), so nothing is stored; each desk
        process takes the workers in turn from where it is (about len(urls) ids drawn each)."""
        if len(self.urls) < 2:
            return uuid.uuid4().hex
        want = next(self._turns) % len(self.urls)
        while True:
            sender = uuid.uuid4().hex
            if self.worker_index(sender) == want:
                return sender

    async def _request(self, method: str, sender: str, path: str, **kw: Any) -> aiohttp.ClientResponse:
        workers = self.workers(sender)
        for url in workers[:-1]:
            try:
                return await self.session.request(method, url + path, **kw)
            except aiohttp.ClientConnectorError as e:
                log.warning("rasa worker %s refused %s: %s; trying the next", url, sender, e)
        return await self.session.request(method, workers[-1] + path, **kw)

    async def send(
        self, sender: str, text: str, buyer_id: str, *, turn: Optional[str] = None, maybe_sent: bool = False
    ) -> List[Dict[str, Any]]:
        """`turn`: the turn's id (the desk's id of the shopper message). `maybe_sent`: a desk
        that died may have sent it already (desk/recovery.py): the tracker is asked first."""
        # a leading "/" is neutralised inside Rasa, after its normalisation (xiaoer.text.neutralise_command)
        turn = turn or uuid.uuid4().hex
        body = {"sender": sender, "message": text, "metadata": {"buyer_id": buyer_id, "via": "desk", "desk_turn": turn}}
        headers = {CHANNEL_HEADER: self.channel_secret} if self.channel_secret else {}
        workers = self.workers(sender)
        for i, url in enumerate(workers):
            last = i == len(workers) - 1
            if maybe_sent:
                done = await self._finished_turn(url, sender, turn)
                if done is not None:
                    log.warning(
                        "turn %s of %s was finished before its worker died: replies from the tracker", turn, sender
                    )
                    return done
            try:
                async with self.session.post(
                    url + "/webhooks/rest/webhook", json=body, headers=headers, timeout=self.timeout
                ) as r:
                    if r.status != 200:
                        raise RasaUnavailable(f"HTTP {r.status}")
                    data = await r.json(content_type=None)
            except aiohttp.ClientConnectorError as e:
                if last:
                    raise RasaUnavailable(str(e) or type(e).__name__) from e
                log.warning("rasa worker %s refused %s: %s; trying the next", url, sender, e)
                continue
            except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as e:
                # the worker died holding the turn (kill -9, crash): finished or not, the tracker says
                if last:
                    raise RasaUnavailable(str(e) or type(e).__name__) from e
                log.warning("rasa worker %s dropped %s mid-turn: %s; failing over", url, sender, e)
                maybe_sent = True
                continue
            except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as e:
                raise RasaUnavailable(str(e) or type(e).__name__) from e
            if not isinstance(data, list):
                raise RasaUnavailable("not a list")
            return [m for m in data if isinstance(m, dict)]
        raise RasaUnavailable("no worker")

    async def _finished_turn(self, url: str, sender: str, turn: str) -> Optional[List[Dict[str, Any]]]:
        """The bot's replies to turn `turn` if the shared tracker holds it, else None."""
        try:
            async with self.session.get(
                f"{url}/conversations/{sender}/tracker", params=self._params(), timeout=self.timeout
            ) as r:
                if r.status != 200:
                    return None
                tracker = await r.json(content_type=None)
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError):
            return None
        return replies_of_turn(tracker.get("events") or [], turn, sender)

    def _params(self) -> Dict[str, str]:
        return {"token": self.token} if self.token else {}

    async def resume(self, sender: str) -> bool:
        """Hand the conversation back to the bot (resume alone breaks rules: RASA-NOTES)."""
        events = [{"event": "resume"}, {"event": "action", "name": "action_listen"}]
        try:
            async with await self._request(
                "POST",
                sender,
                f"/conversations/{sender}/tracker/events",
                params=self._params(),
                json=events,
                timeout=self.timeout,
            ) as r:
                if r.status >= 300:
                    log.warning("resume %s: HTTP %s", sender, r.status)
                return r.status < 300
        except (aiohttp.ClientError, asyncio.TimeoutError) as e:
            log.warning("resume %s: %s", sender, e)
            return False

    async def trigger(self, sender: str, intent: str, entities: Dict[str, Any]) -> bool:
        """An external event (Rasa's trigger_intent): e.g. EXTERNAL_handback after a resolve."""
        try:
            async with await self._request(
                "POST",
                sender,
                f"/conversations/{sender}/trigger_intent",
                params=self._params(),
                json={"name": intent, "entities": entities},
                timeout=self.timeout,
            ) as r:
                if r.status >= 300:
                    log.warning("trigger %s for %s: HTTP %s", intent, sender, r.status)
                return r.status < 300
        except (aiohttp.ClientError, asyncio.TimeoutError) as e:
            log.warning("trigger %s for %s: %s", intent, sender, e)
            return False

    async def understood(self, sender: str) -> Optional[List[Dict[str, Any]]]:
        """What the bot understood of each shopper message: text, intent, entities."""
        try:
            async with await self._request(
                "GET",
                sender,
                f"/conversations/{sender}/tracker",
                params=self._params(),
                timeout=aiohttp.ClientTimeout(total=3),
            ) as r:
                # the console waits for this: a slow Rasa costs the agent at most 3 s
                if r.status != 200:
                    return None
                tracker = await r.json(content_type=None)
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError):
            return None
        out = []
        for ev in tracker.get("events") or []:
            if ev.get("event") != "user":
                continue
            parse = ev.get("parse_data") or {}
            intent = parse.get("intent") or {}
            out.append(
                {
                    "text": ev.get("text"),
                    "intent": intent.get("name"),
                    "confidence": round(float(intent.get("confidence") or 0), 3),
                    "entities": [
                        {"entity": e.get("entity"), "value": e.get("value")} for e in parse.get("entities") or []
                    ],
                }
            )
        return out


REPLY_KEYS = ("buttons", "image", "custom", "attachment", "elements", "quick_replies")


def replies_of_turn(events: List[Dict[str, Any]], turn: str, sender: str) -> Optional[List[Dict[str, Any]]]:
    """The bot messages that followed the user event of `turn`, shaped as the REST
    channel returns them; None if no user event carries that turn id."""
    out: Optional[List[Dict[str, Any]]] = None
    for ev in events:
        kind = ev.get("event")
        if kind == "user":
            if out is not None:
                break  # the next turn
            if ((ev.get("metadata") or {}).get("desk_turn")) == turn:
                out = []
        elif kind == "bot" and out is not None:
            m: Dict[str, Any] = {"recipient_id": sender}
            if ev.get("text"):
                m["text"] = ev["text"]
            data = ev.get("data") or {}
            m.update({k: data[k] for k in REPLY_KEYS if data.get(k)})
            out.append(m)
    return out
