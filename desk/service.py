"""What the desk does, independent of HTTP: route shopper messages to the bot
or the humans, the queue, claims, replies, resolution, ratings and the 预警
(escalation) ladder. The web layer (desk/web.py) only parses and authorises."""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import datetime, timedelta, timezone
from typing import Any, Dict, List, Optional

from sqlalchemy import func, select

from desk import db, handback, presence
from desk.config import DeskConfig
from desk.db import Database as AsyncEngine  # begin() serialises writes on SQLite
from desk.hub import Hub
from desk.presence import PRESENCE
from desk.rasa import RasaClient, RasaUnavailable
from desk.status import InvalidTransition, Status, transition
from desk.tokens import sign_media
from desk.widget import add_order_cards
from xiaoer.lexicon import ORDER_ID_RE, PHONE_RE
from xiaoer.privacy import mask_phone

log = logging.getLogger("xiaoer.desk")

OPEN = (Status.QUEUED.value, Status.WAITING_OFFLINE.value, Status.ASSIGNED.value)
COMPLAINTS = ("complaint", "abuse", "supervisor")
REASON_ZH = {
    "complaint": "投诉",
    "abuse": "情绪激烈",
    "supervisor": "要求主管",
    "request_human": "要求人工",
    "bot_unavailable": "机器人不可用",
    "photos": "照片待处理",
}
CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
MESSAGE_COLUMNS = ("conversation_id", "sender", "text", "data", "agent_id", "created_at", "client_id")


class DeskError(Exception):
    """An agent action that is not allowed now (HTTP 409/403 in the web layer)."""

    def __init__(self, code: str, status: int = 409) -> None:
        super().__init__(code)
        self.code = code
        self.status = status


def aware(dt: Optional[datetime]) -> Optional[datetime]:
    # SQLite gives back naive datetimes; everything the desk stores is UTC
    if dt is not None and dt.tzinfo is None:
        return dt.replace(tzinfo=timezone.utc)
    return dt


def mask_phones(text: Any) -> Any:
    """Phone numbers in free text masked: what agents see of conversations they do not own."""
    if not isinstance(text, str):
        return text
    return PHONE_RE.sub(lambda m: mask_phone(m.group(0)), text)


def clean_text(text: str) -> str:
    return CONTROL_RE.sub("", text).strip()


class Desk:
    def __init__(self, config: DeskConfig, engine: AsyncEngine, rasa: RasaClient, hub: Hub, shop: Any = None) -> None:
        self.config = config
        self.engine = engine
        self.rasa = rasa
        self.hub = hub
        self.shop = shop
        self.store = config.get_store()
        self.clock = config.clock
        self._locks: Dict[str, asyncio.Lock] = {}
        self._assigning = asyncio.Lock()

    # ---- wording ----------------------------------------------------------------
    def say(self, key: str, **values: Any) -> str:
        base = {
            "agent_hours": self.store.agent_hours_text(),
            "hotline": self.store.hotline,
            "store": self.store.name,
            "bot_name": self.store.bot_name,
            "agent_number": self.store.agent_number,
            "deadline_hours": self.store.complaint_simple_hours,
        }
        base.update({k: v for k, v in values.items() if v is not None})
        return self.config.messages[key].format(**base)

    def lock(self, conversation_id: str) -> asyncio.Lock:
        # one shopper turn at a time per conversation: replies stay in order
        return self._locks.setdefault(conversation_id, asyncio.Lock())

    # ---- conversations and messages ------------------------------------------------
    async def conversation(self, conversation_id: str) -> Optional[Dict[str, Any]]:
        def read(conn):
            row = conn.execute(db.SELECT_CONVERSATION, {"conversation_id": conversation_id}).first()
            return self._conv(row) if row else None

        return await self.engine.run(read, write=False)

    @staticmethod
    def _conv(row) -> Dict[str, Any]:
        c = dict(row._mapping)
        for k in ("deadline_at", "queued_at", "created_at", "updated_at"):
            c[k] = aware(c[k])
        return c

    async def conversation_for_buyer(self, buyer_id: str) -> Dict[str, Any]:
        """The buyer's conversation (one per buyer: the history follows them)."""

        def read(conn):
            row = conn.execute(db.SELECT_BUYER_CONVERSATION, {"buyer_id": buyer_id}).first()
            return self._conv(row) if row else None

        # a returning buyer (nearly every socket): one read, no write lock; a new one below
        found = await self.engine.run(read, write=False)
        if found is not None:
            return found

        def create(conn):
            # in one transaction on the database thread with the prebuilt statements: the async
            # engine's statements, built per call, were ~6 ms of a new socket's ~14 ms of CPU
            row = conn.execute(db.SELECT_BUYER_CONVERSATION, {"buyer_id": buyer_id}).first()
            if row:  # another socket (or desk) of this buyer created it meanwhile
                return self._conv(row)
            now = self.clock()
            cid = self.rasa.new_sender()  # the Rasa workers in turn
            conn.execute(
                db.INSERT_CONVERSATION,
                {
                    "id": cid,
                    "buyer_id": buyer_id,
                    "status": Status.BOT.value,
                    "created_at": now,
                    "updated_at": now,
                    "for_supervisor": False,
                    "overdue": False,
                    "awaiting_rating": False,
                },
            )
            conn.execute(
                db.INSERT_EVENT,
                {
                    "conversation_id": cid,
                    "name": "conversation.started",
                    "actor": buyer_id,
                    "data": {},
                    "created_at": now,
                },
            )
            return self._conv(conn.execute(db.SELECT_CONVERSATION, {"conversation_id": cid}).one())

        return await self.engine.run(create)

    async def add_message(
        self,
        conversation_id: str,
        sender: str,
        text: str = "",
        data: Optional[Dict] = None,
        agent_id: Optional[int] = None,
        *,
        publish: bool = True,
        client_id: Optional[str] = None,
    ) -> Dict[str, Any]:
        msg = self._new_message(conversation_id, sender, text, data, agent_id, client_id)
        # again if PostgreSQL dropped the connection (issue 12): Database.run
        msg["id"] = await self.engine.run(lambda conn: self._insert_message(conn, msg))
        if publish:
            await self.publish_message(msg)
        return msg

    def _new_message(
        self,
        conversation_id: str,
        sender: str,
        text: str = "",
        data: Optional[Dict] = None,
        agent_id: Optional[int] = None,
        client_id: Optional[str] = None,
    ) -> Dict[str, Any]:
        return {
            "id": None,
            "conversation_id": conversation_id,
            "sender": sender,
            "text": text,
            "data": data or {},
            "agent_id": agent_id,
            "created_at": self.clock(),
            "client_id": client_id,
        }

    def _insert_message(self, conn, msg: Dict[str, Any]) -> int:
        """Store `msg` (on a synchronous connection, inside Database.run's transaction); its id."""
        row = {k: msg[k] for k in MESSAGE_COLUMNS}
        # a shopper's message: the widget's id (stored once, desk/recovery.py) and who answers it
        row["turn_node"] = self.hub.node if msg["sender"] == "shopper" else None
        return conn.execute(db.INSERT_MESSAGE, row).inserted_primary_key[0]

    async def add_messages(self, conversation_id: str, batch: List[tuple]) -> List[Dict[str, Any]]:
        """Store (sender, text, data) messages in one transaction, in order."""
        out = [self._new_message(conversation_id, sender, text, data) for sender, text, data in batch]

        def insert(conn) -> None:
            for msg in out:
                msg["id"] = self._insert_message(conn, msg)

        await self.engine.run(insert)
        return out

    async def publish_message(self, msg: Dict[str, Any]) -> None:
        public = self.public_message(msg)
        if public is not None:
            await self.hub.to_shopper(msg["conversation_id"], {"type": "message", "message": public})
        if not self.hub.agents_listening:
            return  # no console here nor on another desk: nothing to encode
        full = self.agent_message(msg)
        await self.hub.to_agents(
            {"type": "message", "conversation_id": msg["conversation_id"], "message": full}, roles=("supervisor",)
        )
        # agents see phone numbers masked on the live feed; the owner reads them in the conversation
        await self.hub.to_agents(
            {
                "type": "message",
                "conversation_id": msg["conversation_id"],
                "message": {**full, "text": mask_phones(full["text"])},
            },
            roles=("agent",),
        )

    def signed_photos(self, photos: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
        """Photo links for the shopper: signed, valid `photo_link_minutes` (no bearer token in URLs)."""
        expires = int(self.clock().timestamp()) + 60 * int(self.config.limits.get("photo_link_minutes", 60))
        out = []
        for p in photos:
            url = str(p.get("url", ""))
            path = url.removeprefix("/media/")
            out.append({**p, "url": f"{url}?e={expires}&s={sign_media(self.config.secret, path, expires)}"})
        return out

    def public_message(self, msg: Dict[str, Any]) -> Optional[Dict[str, Any]]:
        """What the shopper may see: no private notes, no handoff payload."""
        data = msg.get("data") or {}
        if msg["sender"] == "note" or data.get("hidden"):
            return None
        out = {
            "id": msg["id"],
            "sender": msg["sender"],
            "text": msg["text"],
            "at": aware(msg["created_at"]).isoformat(),
        }
        if msg.get("client_id"):  # the widget's outbox: this message arrived (issue 12)
            out["client_id"] = msg["client_id"]
        for key in ("buttons", "image", "photos", "agent_number", "satisfaction"):
            if data.get(key):
                out[key] = data[key]
        if out.get("photos"):
            out["photos"] = self.signed_photos(out["photos"])
        return out

    @staticmethod
    def agent_message(msg: Dict[str, Any]) -> Dict[str, Any]:
        return {
            "id": msg["id"],
            "sender": msg["sender"],
            "text": msg["text"],
            "data": msg.get("data") or {},
            "agent_id": msg.get("agent_id"),
            "at": aware(msg["created_at"]).isoformat(),
        }

    async def messages(self, conversation_id: str) -> List[Dict[str, Any]]:
        def read(conn):
            rows = conn.execute(db.SELECT_MESSAGES, {"conversation_id": conversation_id}).all()
            return [dict(r._mapping) for r in rows]

        return await self.engine.run(read, write=False)

    @staticmethod
    def discussed_order(messages: List[Dict[str, Any]]) -> Optional[str]:
        """The order under discussion: the last order number named in the conversation
        (by the shopper, the bot or an agent, or in the bot's handoff payload)."""
        for m in reversed(messages):
            handoff = ((m.get("data") or {}).get("custom") or {}).get("handoff") or {}
            if isinstance(handoff, dict) and isinstance(handoff.get("order_id"), str):
                return handoff["order_id"]
            if m["sender"] in ("shopper", "bot", "agent") and m.get("text"):
                found = ORDER_ID_RE.findall(m["text"])
                if found:
                    return found[-1]
        return None

    async def history(self, conversation_id: str) -> List[Dict[str, Any]]:
        return [p for p in (self.public_message(m) for m in await self.messages(conversation_id)) if p]

    async def _move(
        self,
        conv: Dict[str, Any],
        new: Status,
        *,
        actor: Optional[str] = None,
        event: Optional[str] = None,
        data: Optional[Dict] = None,
        **columns: Any,
    ) -> Dict[str, Any]:
        async with self.engine.begin() as conn:
            await transition(
                conn, conv["id"], conv["status"], new, at=self.clock(), actor=actor, event=event, data=data, **columns
            )
        conv = await self.conversation(conv["id"])
        await self.hub.to_agents({"type": "queue", "conversation_id": conv["id"], "status": conv["status"]})
        await self.hub.to_shopper(
            conv["id"], {"type": "status", "status": conv["status"], "human": conv["status"] == Status.ASSIGNED.value}
        )
        return conv

    async def record_event(self, conversation_id: str, name: str, actor: Optional[str] = None, **data: Any) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                db.events.insert().values(
                    conversation_id=conversation_id, name=name, actor=actor, data=data, created_at=self.clock()
                )
            )

    # ---- the shopper side -----------------------------------------------------------
    async def shopper_message(
        self, conv_id: str, text: str, *, photos: Optional[List[Dict]] = None, client_id: Optional[str] = None
    ) -> None:
        """Store the shopper's message, then the bot or the humans answer."""
        async with self.lock(conv_id):
            msg = self._new_message(conv_id, "shopper", text, {"photos": photos} if photos else {}, client_id=client_id)

            def store(conn):
                # stored, and the conversation read, in one transaction: who answers depends on its status
                msg["id"] = self._insert_message(conn, msg)
                row = conn.execute(db.SELECT_CONVERSATION, {"conversation_id": conv_id}).first()
                return self._conv(row) if row else None

            conv = await self.engine.run(store)
            await self.publish_message(msg)
            await self.answer_shopper(conv, msg)

    async def answer_shopper(self, conv: Dict[str, Any], msg: Dict[str, Any], *, recovered: bool = False) -> None:
        """The bot or the humans answer a stored shopper message (the conversation's lock held).
        `recovered`: a desk that died may have asked the bot already (desk/recovery.py)."""
        conv_id, text, photos = conv["id"], msg["text"], (msg.get("data") or {}).get("photos")
        turn = str(msg["id"])  # Rasa's turn id (desk_turn): asking again is safe (desk/rasa.py)
        status = Status(conv["status"])
        if status == Status.RESOLVED:
            if conv["awaiting_rating"]:
                await self._set(conv_id, awaiting_rating=False)
            conv = await self._move(conv, Status.BOT, actor=conv["buyer_id"])
            status = Status.BOT
        if status != Status.BOT:
            # a human owns it (or will): the bot must not answer
            if status == Status.WAITING_OFFLINE and not conv["contact"]:
                m = PHONE_RE.search(text)
                if m:
                    await self._set(conv_id, contact=m.group(0))
            if text and not photos and conv["reason"] == "photos" and status in (Status.QUEUED, Status.WAITING_OFFLINE):
                # only photos were queued, nobody has read the words yet: the bot
                # understands them (a complaint re-qualifies the queue item)
                await self._bot_turn(conv, text, waiting=True, turn=turn, recovered=recovered)
                return
            if status in (Status.QUEUED, Status.WAITING_OFFLINE):
                # counted on the queue item ("买家催促 n 次"), then acknowledged
                await self.record_event(conv_id, "followup.received", conv["buyer_id"])
                await self._acknowledge(conv)
            return
        if photos and not text:
            # the bot cannot look at photos: a person decides (quality problem)
            await self._queue(
                conv,
                {"reason": "photos", "priority": "normal", "summary": "买家上传了照片", "category": "商品质量"},
            )
            await self.add_message(conv_id, "system", self.say("photo_received"))
            await self.auto_assign()
            return
        await self._bot_turn(conv, text, turn=turn, recovered=recovered)

    async def _bot_turn(
        self,
        conv: Dict[str, Any],
        text: str,
        *,
        waiting: bool = False,
        turn: Optional[str] = None,
        recovered: bool = False,
    ) -> None:
        """Ask the bot; relay its replies; queue on a handoff (or re-qualify a waiting item)."""
        conv_id = conv["id"]
        await self.hub.to_shopper(conv_id, {"type": "typing", "on": True, "who": "bot"})
        try:
            replies = await self.rasa.send(conv_id, text, conv["buyer_id"], turn=turn, maybe_sent=recovered)
            if not replies:
                raise RasaUnavailable("empty reply")
        except RasaUnavailable as e:
            log.warning("rasa unavailable for %s: %s", conv_id, e)
            await self.hub.to_shopper(conv_id, {"type": "typing", "on": False})
            if waiting:
                await self._acknowledge(conv)
                return
            online = self.store.agents_online(self.clock())
            await self._queue(
                conv,
                {
                    "reason": "bot_unavailable",
                    "priority": "normal",
                    "summary": text[:120],
                    "agents_online": online,
                    "deadline_hours": self.store.complaint_simple_hours,
                },
            )
            await self.add_message(conv_id, "system", self.say("rasa_down" if online else "rasa_down_offline"))
            return
        await self.hub.to_shopper(conv_id, {"type": "typing", "on": False})
        handoff = None
        batch = []
        for r in replies:
            custom = r.get("custom")
            if isinstance(custom, dict) and isinstance(custom.get("handoff"), dict):
                handoff = custom["handoff"]
                batch.append(("system", "", {"custom": custom, "hidden": True}))
                continue
            data = {}
            if r.get("buttons"):
                data["buttons"] = [
                    {"title": str(b.get("title", "")), "payload": str(b.get("payload", ""))}
                    for b in r["buttons"]
                    if isinstance(b, dict)
                ]
                await add_order_cards(self, conv["buyer_id"], data["buttons"])  # desk/widget.py
            if r.get("image"):
                data["image"] = str(r["image"])
            if custom is not None:
                data["custom"] = custom
                data["hidden"] = not r.get("text")
            batch.append(("bot", str(r.get("text") or ""), data))
        # one transaction for the whole bot turn: fewer waits for SQLite's single writer
        for msg in await self.add_messages(conv_id, batch):
            await self.publish_message(msg)
        if handoff is not None:
            if (
                not waiting
                and handoff.get("agents_online", True)
                and self.store.agents_online(self.clock())
                and not await self._free_agent(handoff.get("for_supervisor") is True)
            ):
                # told before the item appears, so the place counts only those already waiting
                place = await self.place(conv_id)
                await self.add_message(
                    conv_id, "system", self.say("queue_place" if place["ahead"] else "queue_place_next", **place)
                )
            await self._queue(conv, handoff)
            await self.auto_assign()

    async def _set(self, conv_id: str, **values: Any) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(db.conversations.update().where(db.conversations.c.id == conv_id).values(**values))

    async def _queue(self, conv: Dict[str, Any], handoff: Dict[str, Any]) -> Dict[str, Any]:
        now = self.clock()
        online = bool(handoff.get("agents_online", True)) and self.store.agents_online(now)
        hours = int(handoff.get("deadline_hours") or self.store.complaint_simple_hours)
        new = Status.QUEUED if online else Status.WAITING_OFFLINE
        event = None
        if conv["status"] in (Status.QUEUED.value, Status.WAITING_OFFLINE.value):
            # already waiting (photos first, then the words): same place in the queue, new reason
            new, event = Status(conv["status"]), "conversation.requalified"
            now = aware(conv["queued_at"]) or now
        conv = await self._move(
            conv,
            new,
            actor="bot",
            event=event,
            data={k: handoff.get(k) for k in ("reason", "category", "priority", "summary")},
            reason=str(handoff.get("reason") or "unresolved")[:32],
            category=handoff.get("category"),
            priority=handoff.get("priority") if handoff.get("priority") in ("high", "normal", "low") else "normal",
            summary=str(handoff.get("summary") or "")[:500],
            deadline_hours=hours,
            deadline_at=self.agent_deadline(now, hours),
            queued_at=now,
            overdue=False,
            # C5/C6: the bot marks abuse and requests for a supervisor as a supervisor's to take
            for_supervisor=handoff.get("for_supervisor") is True,
            assigned_to=None,
        )
        return conv

    def agent_deadline(self, start: datetime, hours: float) -> datetime:
        """`hours` of agent time after `start`: the clock stops while no agent is on duty
        (a complaint at midnight is due 2 h after the shift starts, not at 02:00)."""
        left = timedelta(hours=hours)
        t = start
        step = timedelta(minutes=1)
        for _ in range(60 * 24 * 14):  # two weeks without any agent hour: give up counting
            if left <= timedelta(0):
                return t
            if self.store.agents_online(t):
                left -= step
            t += step
        return start + timedelta(hours=hours)

    async def place(self, conv_id: str) -> Dict[str, int]:
        """Where a waiting shopper stands: how many are ahead, and the expected wait in minutes."""
        waiting = [q for q in await self.queue() if q["status"] == Status.QUEUED.value]
        ids = [q["id"] for q in waiting]
        ahead = ids.index(conv_id) if conv_id in ids else len(ids)
        per = float(self.config.queue.get("minutes_per_shopper", 4))
        # agents with the console open (each agent counted once); at least one on duty
        agents = max(1, len({a.get("id") for a in self.hub.agents.values()}))
        return {"ahead": ahead, "minutes": max(1, round((ahead + 1) * per / agents))}

    async def _acknowledge(self, conv: Dict[str, Any]) -> None:
        """A waiting shopper wrote again ("人呢?"): say it was seen, with the place in the queue;
        at most once per `queue.followup_ack_minutes`, so a burst gets one answer."""
        now = self.clock()
        every = timedelta(minutes=float(self.config.queue.get("followup_ack_minutes", 2)))
        async with self.engine.connect() as conn:
            last = (
                await conn.execute(
                    select(db.events.c.created_at)
                    .where(db.events.c.conversation_id == conv["id"], db.events.c.name == "followup.acknowledged")
                    .order_by(db.events.c.id.desc())
                    .limit(1)
                )
            ).scalar()
        if last is not None and now - aware(last) < every:
            return
        await self.record_event(conv["id"], "followup.acknowledged", "desk")
        if conv["status"] == Status.WAITING_OFFLINE.value:
            await self.add_message(conv["id"], "system", self.say("followup_ack_offline"))
        else:
            place = await self.place(conv["id"])
            await self.add_message(
                conv["id"], "system", self.say("followup_ack" if place["ahead"] else "followup_ack_next", **place)
            )

    async def rate(self, conv_id: str, score: int, comment: str = "") -> None:
        """C10: the shopper's 1-5 answer to the satisfaction question."""
        async with self.lock(conv_id):
            conv = await self.conversation(conv_id)
            if not conv["awaiting_rating"]:
                raise DeskError("no_rating_asked")
            now = self.clock()
            async with self.engine.begin() as conn:
                await conn.execute(
                    db.ratings.insert().values(
                        conversation_id=conv_id,
                        agent_id=conv["assigned_to"],
                        score=score,
                        comment=comment,
                        created_at=now,
                    )
                )
                await conn.execute(
                    db.conversations.update().where(db.conversations.c.id == conv_id).values(awaiting_rating=False)
                )
            await self.add_message(
                conv_id, "shopper", f"{score}分" + (f" {comment}" if comment else ""), {"rating": score}
            )
            unhappy = score <= int(self.config.escalation.get("unsatisfied_score", 2))
            # the shopper is told their opinion goes to a supervisor (rating_sorry): keep that
            # promise whatever the conversation began as (a photo, a request for a person ...)
            if unhappy:
                await self.raise_warning(conv, "unsatisfied", f"评分 {score} 分" + (f":{comment}" if comment else ""))
            # back with the bot before the shopper reads the thanks: whatever they type next is the bot's
            if conv["status"] == Status.RESOLVED.value:
                await self._move(conv, Status.BOT, actor=conv["buyer_id"])
            await self.add_message(conv_id, "system", self.say("rating_sorry" if unhappy else "rating_thanks"))

    # ---- the agent side ---------------------------------------------------------------
    async def _agent_conv(self, conv_id: str, agent: Dict[str, Any], *, owned: bool = True) -> Dict[str, Any]:
        conv = await self.conversation(conv_id)
        if conv is None:
            raise DeskError("not_found", 404)
        if owned and (conv["status"] != Status.ASSIGNED.value or conv["assigned_to"] != agent["id"]):
            raise DeskError("not_yours")
        return conv

    async def claim(self, conv_id: str, agent: Dict[str, Any], *, event: Optional[str] = None) -> Dict[str, Any]:
        conv = await self._agent_conv(conv_id, agent, owned=False)
        if conv["status"] not in (Status.QUEUED.value, Status.WAITING_OFFLINE.value):
            raise DeskError("not_waiting")
        if conv["for_supervisor"] and agent["role"] != "supervisor":
            raise DeskError("supervisor_only", 403)
        try:
            conv = await self._move(
                conv,
                Status.ASSIGNED,
                actor=agent["name"],
                event=event,
                assigned_to=agent["id"],
                last_agent_number=agent["number"],
            )
        except InvalidTransition:
            raise DeskError("already_claimed") from None
        await self.add_message(
            conv_id, "system", self.say("agent_joined", agent_number=agent["number"]), {"agent_number": agent["number"]}
        )
        return conv

    async def reply(self, conv_id: str, agent: Dict[str, Any], text: str, check) -> Dict[str, Any]:
        """Send an agent's reply; `await check(text)` is the guard's verdict (blocked ones never go out)."""
        await self._agent_conv(conv_id, agent)
        verdict = await check(text)
        if verdict.get("blocked"):
            await self.record_event(
                conv_id, "guard.blocked", agent["name"], rules=[f.get("rule_id") for f in verdict.get("findings", [])]
            )
            return {"sent": False, "guard": verdict}
        msg = await self.add_message(conv_id, "agent", text, {"agent_number": agent["number"]}, agent["id"])
        return {"sent": True, "guard": verdict, "message": self.agent_message(msg)}

    async def note(self, conv_id: str, agent: Dict[str, Any], text: str) -> Dict[str, Any]:
        # only the agent who owns the conversation (or a supervisor) writes in its file
        await self._agent_conv(conv_id, agent, owned=agent["role"] != "supervisor")
        msg = await self.add_message(conv_id, "note", text, {"agent_name": agent["name"]}, agent["id"])
        return self.agent_message(msg)

    async def transfer(self, conv_id: str, agent: Dict[str, Any], to: str, get_agent) -> Dict[str, Any]:
        conv = await self._agent_conv(conv_id, agent)
        if to == "supervisor":
            conv = await self._move(
                conv,
                Status.QUEUED,
                actor=agent["name"],
                event="conversation.transferred",
                data={"to": "supervisor"},
                assigned_to=None,
                for_supervisor=True,
                priority="high",
            )
            await self.hub.to_agents(
                {"type": "alert", "conversation_id": conv_id, "text": f"{agent['name']} 转交主管处理"},
                roles=("supervisor",),
            )
            await self.auto_assign()
            return conv
        target = await get_agent(name=to)
        if target is None:
            raise DeskError("no_such_agent", 404)
        conv = await self._move(
            conv,
            Status.ASSIGNED,
            actor=agent["name"],
            event="conversation.transferred",
            data={"to": target["name"]},
            assigned_to=target["id"],
            last_agent_number=target["number"],
        )
        await self.add_message(
            conv_id,
            "system",
            self.say("agent_transferred", agent_number=target["number"]),
            {"agent_number": target["number"]},
        )
        return conv

    async def resolve(
        self, conv_id: str, agent: Dict[str, Any], *, ask_rating: bool = True, summary: Optional[str] = None
    ) -> Dict[str, Any]:
        """Close the human part: back to the bot, which is told what was resolved
        (desk/handback.py), then (C10) the satisfaction question."""
        conv = await self._agent_conv(conv_id, agent)
        conv = await self._move(
            conv, Status.RESOLVED, actor=agent["name"], data={"rating_asked": ask_rating}, awaiting_rating=ask_rating
        )
        resumed = await self.rasa.resume(conv_id)
        if resumed:
            msgs = await self.messages(conv_id)
            await self.rasa.trigger(
                conv_id, handback.INTENT, handback.entities(conv, agent, msgs, self.discussed_order(msgs), summary)
            )
        await self.record_event(conv_id, "bot.resumed" if resumed else "bot.resume_failed", agent["name"])
        if ask_rating:
            await self.add_message(
                conv_id, "system", self.say("satisfaction", agent_number=agent["number"]), {"satisfaction": True}
            )
        else:
            await self.add_message(conv_id, "system", self.say("back_to_bot"))
        await self.auto_assign()  # a place is free within the agent's cap
        return conv

    # ---- presence and auto-assignment --------------------------------------------------
    async def set_presence(self, agent: Dict[str, Any], status: str) -> None:
        # in the desk DB (desk/presence.py): every desk process assigns with the same team
        if status not in PRESENCE:
            raise DeskError("bad_presence", 400)
        await presence.set_status(self.engine, agent["id"], status, at=self.clock())
        await self.hub.to_agents({"type": "presence", "agent": agent["name"], "status": status})
        if status == "online":
            await self.auto_assign()

    async def presence_of(self, agent_id: int) -> str:
        return await presence.status_of(self.engine, agent_id)

    def _cap(self) -> int:
        return int(self.config.routing.get("max_chats_per_agent", 3))

    async def _loads(self) -> Dict[int, int]:
        async with self.engine.connect() as conn:
            return dict(
                (
                    await conn.execute(
                        select(db.conversations.c.assigned_to, func.count())
                        .where(db.conversations.c.status == Status.ASSIGNED.value)
                        .group_by(db.conversations.c.assigned_to)
                    )
                ).all()
            )

    async def _free_agent(self, for_supervisor: bool) -> bool:
        """Someone online could take it at once (then no place in the queue is announced)."""
        if not self.config.routing.get("auto_assign", True):
            return False
        online = await presence.online_agents(self.engine)
        if not online:
            return False
        load = await self._loads()
        return any((a["role"] == "supervisor") == for_supervisor and load.get(a["id"], 0) < self._cap() for a in online)

    async def auto_assign(self) -> int:
        """Waiting conversations to online agents, oldest first, each agent within
        `routing.max_chats_per_agent` open chats, the least busy first. Items for a
        supervisor go to online supervisors; agents may still claim by hand."""
        if not self.config.routing.get("auto_assign", True):
            return 0
        cap, done = self._cap(), 0
        async with self._assigning:
            online = await presence.online_agents(self.engine)
            if not online:
                return 0
            load = await self._loads()
            async with self.engine.connect() as conn:
                waiting = (
                    await conn.execute(
                        select(db.conversations)
                        .where(db.conversations.c.status.in_((Status.QUEUED.value, Status.WAITING_OFFLINE.value)))
                        .order_by(db.conversations.c.queued_at, db.conversations.c.created_at)
                    )
                ).all()
            for row in waiting:
                conv = self._conv(row)
                fits = [
                    a
                    for a in online
                    if load.get(a["id"], 0) < cap and (a["role"] == "supervisor") == bool(conv["for_supervisor"])
                ]
                if not fits:
                    continue
                agent = min(fits, key=lambda a: load.get(a["id"], 0))
                try:
                    await self.claim(conv["id"], agent, event="conversation.auto_assigned")
                except DeskError:
                    continue
                load[agent["id"]] = load.get(agent["id"], 0) + 1
                done += 1
        return done

    # ---- 预警 (C4) ------------------------------------------------------------------------
    @property
    def ladder(self) -> List[Dict[str, Any]]:
        return list(self.config.escalation.get("ladder") or [])

    async def raise_warning(self, conv: Dict[str, Any], trigger: str, unhappy: str) -> Dict[str, Any]:
        """File a warning with the seed's contents: problem, handling so far, what the shopper is unhappy with."""
        now = self.clock()
        msgs = await self.messages(conv["id"])
        handling = [
            f"[备注] {m['text']}" if m["sender"] == "note" else m["text"]
            for m in msgs
            if m["sender"] in ("agent", "note") and m["text"]
        ][-6:]
        said = [m["text"] for m in msgs if m["sender"] == "shopper" and m["text"]][:3]
        problem = (
            "".join(f"【{x}】" for x in (conv["category"], REASON_ZH.get(conv["reason"], conv["reason"])) if x)
            + (conv["summary"] or "")
            + (f"(买家:{' / '.join(said)})" if said else "")
        )
        async with self.engine.begin() as conn:
            existing = (
                await conn.execute(
                    select(db.warnings.c.id).where(
                        db.warnings.c.conversation_id == conv["id"], db.warnings.c.outcome.is_(None)
                    )
                )
            ).first()
            if existing:
                return {"id": existing[0]}
            first = self.ladder[0]["minutes"] if self.ladder else 30
            row = dict(
                conversation_id=conv["id"],
                trigger=trigger,
                problem=problem or "(未记录)",
                handling="\n".join(handling) or "尚未处理",
                unhappy=unhappy,
                step=0,
                step_due_at=now + timedelta(minutes=first),
                close_due_at=now + timedelta(hours=int(self.config.escalation.get("close_within_hours", 48))),
                overdue=False,
                created_at=now,
            )
            r = await conn.execute(db.warnings.insert().values(**row))
            row["id"] = r.inserted_primary_key[0]
            await conn.execute(
                db.events.insert().values(
                    conversation_id=conv["id"],
                    name="warning.raised",
                    actor="desk",
                    data={"trigger": trigger},
                    created_at=now,
                )
            )
        await self.hub.to_agents(
            {
                "type": "warning",
                "conversation_id": conv["id"],
                "warning_id": row["id"],
                "problem": row["problem"],
                "unhappy": unhappy,
            },
            roles=("supervisor",),
        )
        return row

    async def warnings(self, *, open_only: bool = True, conversation_id: Optional[str] = None) -> List[Dict[str, Any]]:
        q = select(db.warnings).order_by(db.warnings.c.id)
        if open_only:
            q = q.where(db.warnings.c.outcome.is_(None))
        if conversation_id:
            q = q.where(db.warnings.c.conversation_id == conversation_id)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(q)).all()
        out = []
        ladder = self.ladder
        for r in rows:
            w = dict(r._mapping)
            for k in ("step_due_at", "close_due_at", "created_at", "closed_at"):
                w[k] = aware(w[k])
            w["step_label"] = ladder[w["step"]]["label"] if w["step"] < len(ladder) else "结办"
            out.append(w)
        return out

    async def advance_warning(self, warning_id: int, agent: Dict[str, Any], *, close: Optional[str] = None) -> None:
        """A supervisor marks the current ladder step done (or closes the warning)."""
        if agent["role"] != "supervisor":
            raise DeskError("supervisor_only", 403)
        now = self.clock()
        async with self.engine.begin() as conn:
            w = (await conn.execute(select(db.warnings).where(db.warnings.c.id == warning_id))).first()
            if w is None or w.outcome is not None:
                raise DeskError("not_found", 404)
            nxt = w.step + 1
            if close or nxt >= len(self.ladder):
                values = dict(outcome=close or "satisfied", closed_at=now, overdue=False)
            else:
                values = dict(step=nxt, step_due_at=now + timedelta(minutes=self.ladder[nxt]["minutes"]), overdue=False)
            await conn.execute(db.warnings.update().where(db.warnings.c.id == warning_id).values(**values))
            await conn.execute(
                db.events.insert().values(
                    conversation_id=w.conversation_id,
                    name="warning.advanced",
                    actor=agent["name"],
                    data={"from_step": w.step, "outcome": values.get("outcome")},
                    created_at=now,
                )
            )
        await self.hub.to_agents({"type": "warning", "warning_id": warning_id}, roles=("supervisor",))

    async def tick(self) -> Dict[str, int]:
        """One pass of the timers (due times live in the DB, so they survive restarts)."""
        now = self.clock()
        counts = {"overdue": 0, "warnings": 0, "steps_overdue": 0, "closed_unsatisfied": 0}
        async with self.engine.connect() as conn:
            late = (
                await conn.execute(
                    select(db.conversations).where(
                        db.conversations.c.status.in_(OPEN),
                        db.conversations.c.overdue.is_(False),
                        db.conversations.c.deadline_at.isnot(None),
                        db.conversations.c.deadline_at < now,
                    )
                )
            ).all()
        for row in late:
            conv = self._conv(row)
            await self._set(conv["id"], overdue=True)
            await self.record_event(conv["id"], "conversation.overdue", "desk")
            counts["overdue"] += 1
            await self.hub.to_agents({"type": "queue", "conversation_id": conv["id"], "overdue": True})
            if conv["reason"] in COMPLAINTS:
                await self.raise_warning(conv, "deadline", f"超过 {conv['deadline_hours']} 小时答复时限仍未解决")
                counts["warnings"] += 1
        async with self.engine.begin() as conn:
            steps = (
                await conn.execute(
                    db.warnings.update()
                    .where(
                        db.warnings.c.outcome.is_(None),
                        db.warnings.c.overdue.is_(False),
                        db.warnings.c.step_due_at < now,
                    )
                    .values(overdue=True)
                )
            ).rowcount
            closed = (
                await conn.execute(
                    db.warnings.update()
                    .where(db.warnings.c.outcome.is_(None), db.warnings.c.close_due_at < now)
                    .values(outcome="unsatisfied", closed_at=now)
                )
            ).rowcount
        counts["steps_overdue"], counts["closed_unsatisfied"] = steps, closed
        counts["assigned"] = await self.auto_assign()
        if steps or closed:
            await self.hub.to_agents({"type": "warning"}, roles=("supervisor",))
        return counts

    # ---- the console's views -------------------------------------------------------------
    async def queue(self) -> List[Dict[str, Any]]:
        now = self.clock()
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(db.conversations, db.agents.c.name.label("agent_name"))
                    .select_from(
                        db.conversations.outerjoin(db.agents, db.agents.c.id == db.conversations.c.assigned_to)
                    )
                    .where(db.conversations.c.status.in_(OPEN))
                )
            ).all()
            # follow-ups written while waiting (since the queue time, no agent yet)
            since = (
                await conn.execute(
                    select(db.events.c.conversation_id, func.count())
                    .select_from(db.events.join(db.conversations, db.conversations.c.id == db.events.c.conversation_id))
                    .where(
                        db.conversations.c.status.in_((Status.QUEUED.value, Status.WAITING_OFFLINE.value)),
                        db.events.c.name == "followup.received",
                        db.events.c.created_at >= db.conversations.c.queued_at,
                    )
                    .group_by(db.events.c.conversation_id)
                )
            ).all()
        followups = {cid: n for cid, n in since}
        out = []
        for r in rows:
            c = self._conv(r)
            out.append(
                {
                    "id": c["id"],
                    "buyer_id": c["buyer_id"],
                    "status": c["status"],
                    "reason": c["reason"],
                    "category": c["category"],
                    "priority": c["priority"],
                    "summary": c["summary"],
                    "agent": c["agent_name"],
                    "for_supervisor": c["for_supervisor"],
                    "contact": mask_phone(c["contact"]) if c["contact"] else None,
                    "waited_seconds": int((now - c["queued_at"]).total_seconds()) if c["queued_at"] else 0,
                    "deadline_at": c["deadline_at"].isoformat() if c["deadline_at"] else None,
                    "deadline_seconds": int((c["deadline_at"] - now).total_seconds()) if c["deadline_at"] else None,
                    "overdue": c["overdue"] or bool(c["deadline_at"] and c["deadline_at"] < now),
                    "followups": followups.get(c["id"], 0),
                }
            )
        on_duty = self.store.agents_online(now)
        for q in out:
            q["on_duty"] = on_duty  # off duty the countdown stands still (deadlines count agent hours)
        rank = {"high": 0, "normal": 1, "low": 2}
        out.sort(
            key=lambda q: (
                q["status"] == "assigned",
                q["for_supervisor"] is False,
                rank.get(q["priority"] or "normal", 1),
                -q["waited_seconds"],
            )
        )
        return out
