"""The shopper's websocket: history on connect, then messages, ratings and typing."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, Dict, Optional

import aiohttp
from aiohttp import web
from sqlalchemy.exc import IntegrityError

from desk import recovery, widget
from desk.httputil import RateLimit, dumps, frame_object
from desk.hub import Hub
from desk.keys import CONFIG, DESK, HUB, SHOPPER_COOKIE
from desk.middlewares import origin_allowed, shopper_buyer
from desk.service import Desk, DeskError, clean_text

log = logging.getLogger("xiaoer.desk")


def rating_score(value: Any) -> Optional[int]:
    """1-5 from what the widget sent; None for anything else (1e999, "abc", true, [])."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) == 1:
        value = int(value.strip())
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and 1 <= value <= 5:
        return value
    return None


async def shopper_ws(request: web.Request) -> web.WebSocketResponse:
    """The shopper's socket. The buyer is proven by the storefront's cookie or, for a
    widget embedded on another site, by the token in the first frame
    {"type": "auth", "token": ...}: never in the URL, where access logs keep it."""
    config, desk, hub = request.app[CONFIG], request.app[DESK], request.app[HUB]
    if not origin_allowed(request):
        raise web.HTTPForbidden(text="origin not allowed")
    buyer_id = shopper_buyer(request, request.cookies.get(SHOPPER_COOKIE))
    ws = web.WebSocketResponse(heartbeat=30, max_msg_size=64 * 1024)
    await ws.prepare(request)
    if buyer_id is None:
        try:
            first = await ws.receive(timeout=10)
        except asyncio.TimeoutError:
            first = None
        data = frame_object(first.data) if first is not None and first.type == aiohttp.WSMsgType.TEXT else None
        token = data.get("token") if data and data.get("type") == "auth" else None
        buyer_id = shopper_buyer(request, token if isinstance(token, str) else None)
        if buyer_id is None:
            await ws.send_str(dumps({"type": "error", "error": "bad_token", "text": desk.say("auth_required")}))
            await ws.close(code=4401, message=b"bad token")
            return ws
    conv = await desk.conversation_for_buyer(buyer_id)
    hub.shoppers[conv["id"]].add(ws)
    limit = RateLimit(int(config.limit("rate_messages")), float(config.limit("rate_seconds")))
    max_chars = int(config.limit("message_chars"))

    async def notice(key: str, client_id: Optional[str] = None, **kw: Any) -> None:
        frame = {"type": "notice", "text": desk.say(key, **kw)}
        if client_id:  # the widget's outbox: this message was refused, not lost in transit
            frame["client_id"] = client_id
        await ws.send_str(dumps(frame))

    async def ack(client_id: Optional[str], mid: Optional[int]) -> None:
        await ws.send_str(dumps({"type": "ack", "client_id": client_id, "id": mid}))

    try:
        conv = await desk.conversation(conv["id"])
        await ws.send_str(
            dumps(
                {
                    "type": "history",
                    "conversation_id": conv["id"],
                    "status": conv["status"],
                    "human": conv["status"] == "assigned",
                    "awaiting_rating": conv["awaiting_rating"],
                    "welcome": desk.say("welcome"),
                    "read_up_to": await widget.read_up_to(desk, conv["id"]),
                    "messages": await desk.history(conv["id"]),
                }
            )
        )
        if request.app.get(recovery.LIVENESS) is not None:
            try:  # a dead desk left the shopper's last message unanswered: answered now (issue 12)
                await recovery.on_reconnect(desk, request.app[recovery.LIVENESS], conv["id"])
            except Exception:
                log.exception("finishing the last turn of %s", conv["id"])
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                if msg.type == aiohttp.WSMsgType.BINARY:
                    await notice("not_text")
                continue
            data = frame_object(msg.data)
            if data is None:
                await notice("not_text")
                continue
            kind = data.get("type")
            if kind == "ping":
                await ws.send_str('{"type":"pong"}')
                continue
            if kind == "auth":
                continue  # a widget that sends its token although the cookie already told us
            if not limit.allow():
                await notice("too_fast", recovery.client_id_of(data) if kind == "message" else None)
                continue
            try:
                await _shopper_frame(desk, hub, conv, data, notice, max_chars, ack, request.app.get(recovery.LIVENESS))
            except DeskError:
                pass
            except Exception:  # the message is stored first; keep the socket alive
                log.exception("shopper frame in %s", conv["id"])
                client_id = recovery.client_id_of(data) if kind == "message" else None
                if client_id:
                    # Perhaps not stored (the database away for a moment, a PostgreSQL restart):
                    # the widget sends it again shortly. Stored after all, the resend is only acked.
                    with contextlib.suppress(Exception):
                        await ws.send_str(dumps({"type": "retry", "client_id": client_id}))
    finally:
        hub.shoppers[conv["id"]].discard(ws)
    return ws


async def _shopper_frame(
    desk: Desk,
    hub: Hub,
    conv: Dict[str, Any],
    data: Dict[str, Any],
    notice,
    max_chars: int,
    ack,
    liveness: Optional[recovery.Liveness] = None,
) -> None:
    kind = data.get("type")
    if kind == "message":
        text = data.get("text")
        text = clean_text(text) if isinstance(text, str) else ""
        client_id = recovery.client_id_of(data)
        if not text:
            await notice("empty", client_id)
        elif len(text) > max_chars:
            await notice("too_long", client_id, limit=max_chars)
        else:
            # Sent again (the widget's outbox): the unique (conversation, client id) index keeps
            # it stored once, so only a resend pays for the look-up, not every message.
            try:
                await desk.shopper_message(conv["id"], text, client_id=client_id)
                return
            except IntegrityError:  # stored before, by this socket, another one or another desk
                mid = await recovery.stored(desk, conv["id"], client_id)
            await ack(client_id, mid)
            if liveness is not None:
                # stored, but its turn failed (the database went away under the answer): the
                # widget sent it again, so answer it now unless a live turn is still on it
                await recovery.finish(desk, liveness, conv["id"])
    elif kind == "rating":
        score = rating_score(data.get("score"))
        if score is None:
            await notice("bad_rating")
            return
        comment = data.get("comment")
        comment = clean_text(comment)[:max_chars] if isinstance(comment, str) else ""
        await desk.rate(conv["id"], score, comment)
    elif kind == "typing":
        await hub.to_agents({"type": "typing", "conversation_id": conv["id"], "who": "shopper"})
    else:
        await notice("not_text")
