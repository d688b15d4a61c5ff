"""A desk crash loses nothing (issue 12): the desk's side of the widget's outbox, and
finishing the turns a dead desk left unanswered.

- Outbox: the widget gives every shopper message its own id (`client_id`) and keeps it
  until the desk has stored it (the shopper's own message comes back on the socket
  carrying that id, or {"type": "ack"} for one stored before). A message sent again
  after a reconnect is stored once: unique on (conversation, client id) in the database,
  so also when two desks get it.
- Unanswered turns: a shopper message the bot was to answer, stored, then nothing
  (the desk died between). Each shopper message records the desk process answering it
  (`turn_node`). It is finished when the shopper reconnects (before what their widget
  sends again, so the answers stay in order), and by a sweep when a desk starts
  (conversations without a live socket here, so the answer is there at their next
  visit) - but only when its desk is gone: this process (its lock is free, so the turn
  ended), or a process without a heartbeat. A shopper whose desk just died reconnects
  to another before the dead one's lease ends: that desk watches the turn until then.
  The turn goes to Rasa with the stored message's id as its turn id, marked "maybe
  sent": Rasa's tracker is asked first and, if the dead desk's turn got that far, its
  replies are taken from there (desk/rasa.py), so the bot never runs it twice.
- Heartbeat: with several desks (XIAOER_DESK_HUB_URL, Redis) each process renews a key
  every second (3 s lease); one desk alone needs none, any other process is gone.
  Redis away: a turn counts as abandoned once it is older than any live desk could
  take for it (the Rasa timeout, plus a margin).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from datetime import timedelta
from typing import Any, Dict, List, Optional

from aiohttp import web
from sqlalchemy import func, select

from desk import db
from desk.hub import Hub, cancel
from desk.keys import DESK, HUB
from desk.service import Desk, aware
from desk.status import Status

log = logging.getLogger("xiaoer.desk.recovery")

CLIENT_ID_RE = re.compile(r"[A-Za-z0-9_-]{8,64}")
KEY = "xiaoer:desk:node:"
BEAT_SECONDS, LEASE_MS = 1.0, 3000
REDIS_SECONDS = 1.0  # a heartbeat command waits no longer (Redis away: the turn falls back on its age)
SWEEP_HOURS = 24  # older unanswered messages are not answered out of the blue
SWEEP_LIMIT = 500
# conversations in which the bot answers the shopper's next message
BOT_ANSWERS = (Status.BOT.value, Status.RESOLVED.value)


def client_id_of(data: Dict[str, Any]) -> Optional[str]:
    cid = data.get("client_id")
    return cid if isinstance(cid, str) and CLIENT_ID_RE.fullmatch(cid) else None


class Liveness:
    """Which desk processes are alive: a heartbeat per process in Redis (several desks), on
    the hub's Redis client (one per desk). Each command waits at most REDIS_SECONDS."""

    def __init__(self, hub: Hub) -> None:
        self.hub, self.node = hub, hub.node
        self._task: Optional[asyncio.Task] = None

    @property
    def _redis(self):
        return self.hub.redis

    async def start(self) -> None:
        if self._redis is not None:
            self._task = asyncio.ensure_future(self._beat())

    async def _beat(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._redis.set(KEY + self.node, "1", px=LEASE_MS), REDIS_SECONDS)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # Redis restarting (or slow): the next beat renews it
                log.debug("heartbeat: %s", e or type(e).__name__)
            await asyncio.sleep(BEAT_SECONDS)

    async def alive(self, node: Optional[str]) -> Optional[bool]:
        """True/False; None when it cannot be told (Redis away)."""
        if not node:
            return False
        if node == self.node:
            return True
        if self._redis is None:
            return False  # one desk alone: another process that answered here is gone
        try:
            return bool(await asyncio.wait_for(self._redis.exists(KEY + node), REDIS_SECONDS))
        except Exception as e:
            log.warning("heartbeat of %s unknown: %s", node, e or type(e).__name__)
            return None

    async def close(self) -> None:
        await cancel(self._task)
        self._task = None
        if self._redis is not None:  # the client itself is the hub's, closed after this
            try:
                await asyncio.wait_for(self._redis.delete(KEY + self.node), REDIS_SECONDS)  # a clean stop: gone at once
            except Exception:
                pass


LIVENESS = web.AppKey("liveness", Liveness)


# ---- the outbox: stored once -------------------------------------------------------------------
async def stored(desk: Desk, conv_id: str, client_id: str) -> Optional[int]:
    """The id of the shopper message the widget sent as `client_id`, if it is stored."""
    async with desk.engine.connect() as conn:
        return (
            await conn.execute(
                select(db.messages.c.id).where(
                    db.messages.c.conversation_id == conv_id, db.messages.c.client_id == client_id
                )
            )
        ).scalar()


# ---- unanswered turns --------------------------------------------------------------------------
def _waits_for_bot(conv: Optional[Dict[str, Any]], last: Optional[Dict[str, Any]]) -> bool:
    """The conversation's last message is a shopper's message the bot has not answered."""
    if conv is None or last is None or last["sender"] != "shopper" or conv["status"] not in BOT_ANSWERS:
        return False
    data = last.get("data") or {}
    return bool(last.get("text")) and "rating" not in data  # a rating is thanked, not a bot turn


async def last_message(desk: Desk, conv_id: str) -> Optional[Dict[str, Any]]:
    def read(conn):
        row = conn.execute(db.SELECT_LAST_MESSAGE, {"conversation_id": conv_id}).first()
        return dict(row._mapping) if row else None

    return await desk.engine.run(read, write=False)


async def _abandoned(desk: Desk, liveness: Liveness, msg: Dict[str, Any]) -> bool:
    owner = msg.get("turn_node")
    if owner == desk.hub.node:
        return True  # this process; its lock is free, so its turn ended without an answer
    alive = await liveness.alive(owner)
    if alive is None:
        age = desk.clock() - aware(msg["created_at"])
        alive = age < timedelta(seconds=desk.config.rasa_timeout + 5)
    return not alive


async def _claim(desk: Desk, msg: Dict[str, Any]) -> bool:
    """This process answers the turn now; False if another desk took it first."""
    owner = msg.get("turn_node")
    m = db.messages.c
    async with desk.engine.begin() as conn:
        r = await conn.execute(
            db.messages.update()
            .where(m.id == msg["id"], m.turn_node.is_(None) if owner is None else m.turn_node == owner)
            .values(turn_node=desk.hub.node)
        )
    return r.rowcount == 1


async def finish(desk: Desk, liveness: Liveness, conv_id: str, *, wait: float = 0.0) -> Optional[bool]:
    """Answer the conversation's last shopper message if a dead desk left it unanswered.
    True: answered now; False: nothing to answer; None: a live desk is answering it.
    `wait`: seconds to watch a turn another desk holds, for its answer or its lease to end."""
    end = time.monotonic() + wait
    async with desk.lock(conv_id):
        while True:
            conv = await desk.conversation(conv_id)
            last = await last_message(desk, conv_id)
            if not _waits_for_bot(conv, last):
                return False
            if await _abandoned(desk, liveness, last):
                break
            if time.monotonic() >= end:
                return None
            await asyncio.sleep(0.25)
        if last.get("turn_node") != desk.hub.node and not await _claim(desk, last):
            return False
        log.warning("finishing message %s of %s, left unanswered by desk %s", last["id"], conv_id, last["turn_node"])
        await desk.record_event(conv_id, "turn.recovered", "desk", message_id=last["id"], node=last["turn_node"])
        await desk.answer_shopper(conv, last, recovered=True)
        return True


async def on_reconnect(desk: Desk, liveness: Liveness, conv_id: str) -> None:
    """The shopper (re)connected here, before their socket's frames are read (what the
    widget sends again comes after this answer). A turn another desk holds is watched
    until a dead desk's lease has run out: its shopper is here because their desk just died."""
    await finish(desk, liveness, conv_id, wait=LEASE_MS / 1000 + BEAT_SECONDS)


async def unanswered_conversations(desk: Desk) -> List[str]:
    """Conversations whose last message (of the last SWEEP_HOURS) is a shopper's the bot owes."""
    m, c = db.messages.c, db.conversations.c
    last = (
        select(m.conversation_id, func.max(m.id).label("mid"))
        .where(m.created_at > desk.clock() - timedelta(hours=SWEEP_HOURS))
        .group_by(m.conversation_id)
        .subquery()
    )
    q = (
        select(m.conversation_id)
        .select_from(db.messages.join(last, m.id == last.c.mid).join(db.conversations, c.id == m.conversation_id))
        .where(m.sender == "shopper", c.status.in_(BOT_ANSWERS))
        .order_by(m.id)
        .limit(SWEEP_LIMIT)
    )
    async with desk.engine.connect() as conn:
        return [r[0] for r in (await conn.execute(q)).all()]


async def sweep(desk: Desk, liveness: Liveness) -> int:
    """Finish what dead desks left unanswered, for shoppers not connected here."""
    done = 0
    for conv_id in await unanswered_conversations(desk):
        if desk.hub.shoppers.get(conv_id):
            continue  # connected here: their socket's handler finishes it
        try:
            done += await finish(desk, liveness, conv_id) is True
        except Exception:
            log.exception("finishing %s", conv_id)
    return done


async def _sweeps(desk: Desk, liveness: Liveness) -> None:
    # at once for the turns of processes known gone, again once a dead desk's lease has run out
    for pause in (0.5, LEASE_MS / 1000 + BEAT_SECONDS):
        await asyncio.sleep(pause)
        try:
            n = await sweep(desk, liveness)
        except Exception:
            log.exception("recovery sweep")
            continue
        if n:
            log.warning("recovery sweep: finished %d unanswered turn(s)", n)


async def recovery_ctx(app: web.Application):
    liveness = Liveness(app[HUB])  # the hub (hub_ctx) starts before and closes after this
    await liveness.start()
    app[LIVENESS] = liveness
    # after the desk serves: a restarted desk takes its shoppers at once
    task = asyncio.ensure_future(_sweeps(app[DESK], liveness))
    yield
    task.cancel()
    await liveness.close()


def setup(app: web.Application) -> None:
    app.cleanup_ctx.append(recovery_ctx)
