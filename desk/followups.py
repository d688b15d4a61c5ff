"""F1-F4 in the desk: the follow-up scheduler (followup/) as one cleanup_ctx,
the widget as its outbound channel, Rasa's trigger_intent as the bot's
notice, console alerts, and the console's routes:

    GET  /api/followups/promises          open promises (F4) with due time / overdue flag
    GET  /api/followups/jobs?buyer_id=    proactive messages: due, sent, waiting, why deferred
    POST /api/followups/promises/{id}/kept  {"text": "..."} closes it; the text goes to the shopper
    GET  /followups.js                    the console's promise panel

Several desk processes may run this: each job is claimed under a lease in the
follow-up database, so each fires once. A shopper's socket lives in one
process; a message waiting for their visit is delivered by that process.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Dict, Iterable, Optional, Set

from aiohttp import web
from sqlalchemy import select

from desk import db as desk_db
from desk.service import Desk
from desk.status import Status
from desk.web import CONFIG, DESK, STATIC, agent_required, guard_check, jsonr
from followup import BotNotifier, Delivery, OutboundChannel, Scheduler, load_config, open_followup_db
from followup.channels import AgentNotifier
from followup.config import followup_db_url
from followup.scheduler import JobKind

log = logging.getLogger("xiaoer.desk.followups")

FOLLOWUPS = web.AppKey("followups", Scheduler)
FOLLOWUP_CONFIG = web.AppKey("followup_config", object)  # a FollowupConfig; default followup/config.yml
EXTERNAL = {
    JobKind.DELIVERY_CHECK.value: "EXTERNAL_followup_delivery_check",
    JobKind.UNPAID.value: "EXTERNAL_followup_unpaid",
}
# a person holds (or is about to take) the conversation: the bot does not talk over them
BUSY = (Status.QUEUED.value, Status.WAITING_OFFLINE.value, Status.ASSIGNED.value)


class WidgetChannel(OutboundChannel):
    """Into the storefront widget, stored in the desk like every bot message."""

    name = "widget"

    def __init__(self, desk: Desk) -> None:
        self.desk = desk

    async def _conversations(self, buyer_ids: Iterable[str]) -> Dict[str, str]:
        ids = list(set(buyer_ids))
        if not ids:
            return {}
        async with self.desk.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(desk_db.conversations.c.buyer_id, desk_db.conversations.c.id)
                    .where(desk_db.conversations.c.buyer_id.in_(ids))
                    .order_by(desk_db.conversations.c.created_at)
                )
            ).all()
        return {b: c for b, c in rows}  # the newest wins, as in conversation_for_buyer

    async def online_buyers(self, buyer_ids: Iterable[str]) -> Set[str]:
        convs = await self._conversations(buyer_ids)
        return {b for b, c in convs.items() if self.desk.hub.shoppers.get(c)}

    async def deliver(
        self, buyer_id: str, message: Dict[str, Any], *, job_id: int, kind: str, speaker: str = "bot"
    ) -> Delivery:
        conv = await self.desk.conversation_for_buyer(buyer_id)
        if conv["status"] in BUSY or conv["awaiting_rating"]:
            return Delivery("busy", conv["id"])
        if not self.desk.hub.shoppers.get(conv["id"]):
            return Delivery("offline", conv["id"])
        data = {"followup": {"job_id": job_id, "kind": kind}}
        if message.get("buttons"):
            data["buttons"] = message["buttons"]
        async with self.desk.lock(conv["id"]):  # after a shopper turn in progress, not in its middle
            msg = await self.desk.add_message(
                conv["id"], "agent" if speaker == "agent" else "bot", message["text"], data
            )
        await self.desk.record_event(conv["id"], "followup.sent", "followup", kind=kind, job_id=job_id)
        return Delivery("delivered", conv["id"], msg["id"])

    async def already_delivered(self, buyer_id: str, job_id: int) -> Optional[Delivery]:
        convs = await self._conversations([buyer_id])
        cid = convs.get(buyer_id)
        if cid is None:
            return None
        for m in reversed(await self.desk.messages(cid)):
            if ((m.get("data") or {}).get("followup") or {}).get("job_id") == job_id:
                return Delivery("delivered", cid, m["id"])
        return None

    async def writes_traditional(self, buyer_id: str) -> bool:
        from xiaoer.text import has_han, is_traditional

        cid = (await self._conversations([buyer_id])).get(buyer_id)
        if cid is None:
            return False
        for m in reversed(await self.desk.messages(cid)):
            if m["sender"] == "shopper" and has_han(m["text"]):
                return is_traditional(m["text"])
        return False

    async def shopper_messages(self, after_id: int, limit: int = 500):
        m, c = desk_db.messages, desk_db.conversations
        async with self.desk.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(m.c.id, c.c.buyer_id, m.c.text)
                    .select_from(m.join(c, c.c.id == m.c.conversation_id))
                    .where(m.c.sender == "shopper", m.c.id > after_id)
                    .order_by(m.c.id)
                    .limit(limit)
                )
            ).all()
        return [(i, b, t or "") for i, b, t in rows]

    async def agent_messages(self, after_id: int, limit: int = 500):
        m, c = desk_db.messages, desk_db.conversations
        async with self.desk.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(m.c.id, c.c.buyer_id, c.c.id, m.c.text, m.c.created_at)
                    .select_from(m.join(c, c.c.id == m.c.conversation_id))
                    .where(m.c.sender == "agent", m.c.id > after_id)
                    .order_by(m.c.id)
                    .limit(limit)
                )
            ).all()
        return [(i, b, cid, t or "", at) for i, b, cid, t, at in rows]


class RasaTrigger(BotNotifier):
    """Rasa's external event: the shopper's answer is read with the order in the tracker.

    Sent through the desk's RasaClient, so it goes to the Rasa worker that holds the
    shopper's conversation (XIAOER_RASA_URL may list several; issue 12)."""

    def __init__(self, rasa) -> None:
        self.rasa = rasa

    async def followup_sent(self, conversation_id: str, kind: str, order_id: Optional[str]) -> bool:
        intent = EXTERNAL.get(kind)
        if intent is None:
            return False
        return await self.rasa.trigger(conversation_id, intent, {"order_id": order_id} if order_id else {})


class ConsoleAlerts(AgentNotifier):
    def __init__(self, desk: Desk) -> None:
        self.desk = desk

    async def alert(self, kind: str, promise: Dict[str, Any]) -> None:
        roles = ("supervisor",) if kind == "promise.overdue" else None
        await self.desk.hub.to_agents(
            {
                "type": "followup",
                "event": kind,
                "promise_id": promise["id"],
                "conversation_id": promise.get("conversation_id"),
                "topic": promise.get("topic"),
                "due_at": promise.get("due_at"),
            },
            roles=roles,
        )


async def _loop(scheduler: Scheduler) -> None:
    c = scheduler.config
    last_scan = None
    while True:
        try:
            now = scheduler.clock()
            if last_scan is None or (now - last_scan).total_seconds() >= c.scan_seconds:
                await scheduler.scan()
                last_scan = now
            await scheduler.tick()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("follow-up tick failed")
        await asyncio.sleep(c.tick_seconds)


async def followups_ctx(app: web.Application):
    """One resource: the follow-up database and its scheduler loop."""
    desk, config = app[DESK], app[CONFIG]
    fconfig = app.get(FOLLOWUP_CONFIG) or load_config()
    engine = await open_followup_db(followup_db_url(config.db_url, fconfig.db_url if fconfig.db_url_set else ""))
    scheduler = Scheduler(
        fconfig,
        engine,
        WidgetChannel(desk),
        shop=desk.shop,
        store=desk.store,
        clock=desk.clock,
        bot=RasaTrigger(desk.rasa),
        agents=ConsoleAlerts(desk),
    )
    app[FOLLOWUPS] = scheduler
    task = None
    if fconfig.enabled and config.start_escalation_task:  # tests drive tick() themselves
        task = asyncio.ensure_future(_loop(scheduler))
    yield
    if task:
        task.cancel()
        try:
            await task
        except (asyncio.CancelledError, Exception):
            pass
    await engine.dispose()


def _public(p: Dict[str, Any]) -> Dict[str, Any]:
    return {
        k: p[k]
        for k in (
            "id",
            "record_id",
            "buyer_id",
            "conversation_id",
            "order_id",
            "topic",
            "state",
            "due_at",
            "remind_at",
            "reminded_at",
            "overdue_at",
            "kept_at",
            "kept_by",
            "overdue",
            "due_seconds",
        )
        if k in p
    }


@agent_required
async def api_promises(request: web.Request) -> web.Response:
    s = request.app[FOLLOWUPS]
    return jsonr(
        {
            "promises": [_public(p) for p in await s.promises(open_only=request.query.get("all") != "1")],
            "now": s.clock().isoformat(),
        }
    )


@agent_required
async def api_jobs(request: web.Request) -> web.Response:
    s = request.app[FOLLOWUPS]
    buyer = request.query.get("buyer_id") or None
    jobs = await s.jobs(buyer_id=buyer[:64] if buyer else None)
    keep = (
        "id",
        "kind",
        "state",
        "buyer_id",
        "order_id",
        "promise_id",
        "conversation_id",
        "due_at",
        "sent_at",
        "note",
        "text",
        "attempts",
    )
    return jsonr({"jobs": [{k: j[k] for k in keep} for j in jobs]})


@agent_required
async def api_promise_kept(request: web.Request) -> web.Response:
    s, desk, agent = request.app[FOLLOWUPS], request.app[DESK], request["agent"]
    try:
        pid = int(request.match_info["pid"])
        body = await request.json() if request.can_read_body else {}
        text = body.get("text") if isinstance(body, dict) else None
    except ValueError:
        return jsonr({"error": "bad_request"}, 400)
    from desk.service import clean_text

    text = clean_text(text) if isinstance(text, str) else ""
    if len(text) > int(request.app[CONFIG].limit("message_chars")):
        return jsonr({"error": "too_long"}, 400)
    if text:
        verdict = await guard_check(desk, text)
        if verdict.get("blocked"):
            return jsonr({"sent": False, "guard": verdict}, 422)
    if not await s.keep_promise(pid, agent["number"], text):
        return jsonr({"error": "not_open"}, 409)
    return jsonr({"ok": True, "will_send": bool(text)})


async def console_panel(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(STATIC / "followups.js", headers={"Cache-Control": "no-cache"})


def setup(app: web.Application) -> None:
    app.cleanup_ctx.append(followups_ctx)
    r = app.router
    r.add_get("/api/followups/promises", api_promises)
    r.add_get("/api/followups/jobs", api_jobs)
    r.add_post("/api/followups/promises/{pid:\\d+}/kept", api_promise_kept)
    r.add_get("/followups.js", console_panel)
