"""The agents' console: login and accounts, the queue, one conversation, replies through
the guard, notes, transfer, resolve / hand back, and the console's websocket."""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import Any, Dict

import aiohttp
from aiohttp import web

from desk import auth, queries, widget
from desk.httputil import frame_object, json_object, jsonr
from desk.keys import CONFIG, DESK, ENGINE, HUB, SESSION_COOKIE
from desk.middlewares import CONSOLE_ROLES, agent_required, current_agent, origin_allowed, supervisor_required
from desk.service import Desk, DeskError, clean_text, mask_phones
from xiaoer.privacy import mask_phone

log = logging.getLogger("xiaoer.desk")


async def api_login(request: web.Request) -> web.Response:
    config = request.app[CONFIG]
    if not origin_allowed(request):
        return jsonr({"error": "bad_origin"}, 403)
    body = await json_object(request)
    name, password = body.get("name"), body.get("password")
    if not isinstance(name, str) or not isinstance(password, str) or not name or len(name) > 64 or len(password) > 1024:
        return jsonr({"error": "bad_request"}, 400)
    try:
        token = await auth.login(
            request.app[ENGINE],
            name,
            password,
            at=config.clock(),
            hours=config.session_hours,
            hasher=auth.make_hasher(config.argon2),
            address=request.remote or "unknown",
            throttle=config.login,
        )
    except auth.LoginThrottled as e:
        minutes = max(1, -(-e.retry_after // 60))
        resp = jsonr(
            {
                "error": "locked",
                "retry_after": e.retry_after,
                "text": request.app[DESK].say("login_locked", minutes=minutes),
            },
            429,
        )
        resp.headers["Retry-After"] = str(e.retry_after)
        return resp
    if token is None:
        return jsonr({"error": "wrong_login"}, 401)
    resp = jsonr({"ok": True})
    resp.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="Strict",
        max_age=config.session_hours * 3600,
        path="/",
        secure=config.cookies_secure,
    )
    return resp


@supervisor_required
async def api_unlock(request: web.Request) -> web.Response:
    """A supervisor lifts a login lock: {"address": "..."} optionally lifts that client's too."""
    body = await json_object(request, empty_ok=True)
    address = body.get("address") if isinstance(body.get("address"), str) else None
    name = request.match_info["name"]
    if len(name) > 64:
        return jsonr({"error": "not_found"}, 404)
    await auth.unlock(
        request.app[ENGINE], name, by=request["agent"]["name"], at=request.app[CONFIG].clock(), address=address
    )
    return jsonr({"ok": True})


@supervisor_required
async def api_audit(request: web.Request) -> web.Response:
    """Who viewed which buyer's data (the buyer.viewed records), newest first."""
    rows = await queries.buyer_views(request.app[ENGINE], limit=500)
    buyer = request.query.get("buyer_id")
    if buyer:
        rows = [r for r in rows if (r["data"] or {}).get("buyer_id") == buyer]
    return jsonr(rows)


@functools.partial(agent_required, roles=auth.ROLES)
async def api_logout(request: web.Request) -> web.Response:
    await auth.logout(request.app[ENGINE], request.cookies[SESSION_COOKIE])
    resp = jsonr({"ok": True})
    resp.del_cookie(SESSION_COOKIE, path="/")
    return resp


@functools.partial(agent_required, roles=auth.ROLES)
async def api_me(request: web.Request) -> web.Response:
    a = request["agent"]
    return jsonr({k: a[k] for k in ("id", "name", "number", "role")})


@agent_required
async def api_agents(request: web.Request) -> web.Response:
    rows = await queries.agents(request.app[ENGINE])
    from desk.presence import all_statuses  # in the desk DB: the same for every desk process

    statuses = await all_statuses(request.app[ENGINE])
    return jsonr(
        [{"name": r.name, "number": r.number, "role": r.role, "presence": statuses.get(r.id, "offline")} for r in rows]
    )


@agent_required
async def api_presence(request: web.Request) -> web.Response:
    """The agent's own status: online (gets conversations assigned), away, offline."""
    body = await json_object(request)
    status = body.get("status")
    if not isinstance(status, str):
        return jsonr({"error": "bad_presence"}, 400)
    await request.app[DESK].set_presence(request["agent"], status)
    return jsonr({"ok": True, "status": status})


@agent_required
async def api_queue(request: web.Request) -> web.Response:
    desk, agent = request.app[DESK], request["agent"]
    out = {"queue": await desk.queue(), "now": desk.clock().isoformat()}
    if agent["role"] == "supervisor":
        out["warnings"] = await desk.warnings()
    return jsonr(out)


@agent_required
async def api_conversation(request: web.Request) -> web.Response:
    desk, agent = request.app[DESK], request["agent"]
    cid = request.match_info["id"]
    conv = await desk.conversation(cid)
    if conv is None:
        return jsonr({"error": "not_found"}, 404)
    # unmasked only for whoever needs it: the agent who owns the conversation, or a supervisor
    full = agent["role"] == "supervisor" or conv["assigned_to"] == agent["id"]
    await desk.record_event(
        cid, "buyer.viewed", agent["name"], buyer_id=conv["buyer_id"], unmasked=full, role=agent["role"]
    )
    await widget.mark_read(desk, conv, agent)  # the shopper sees 已读
    buyer, orders = None, []
    raw_messages = await desk.messages(cid)
    discussed = desk.discussed_order(raw_messages)
    if desk.shop is not None:
        try:
            buyer = await asyncio.wait_for(desk.shop.get_buyer(conv["buyer_id"]), 3)
            orders = list(await asyncio.wait_for(desk.shop.recent_orders(conv["buyer_id"], limit=5), 3))
            if discussed:
                # the order under discussion first, even when it is older than the last five
                order_id = lambda o: o.get("order_id") if isinstance(o, dict) else getattr(o, "order_id", None)
                orders = [o for o in orders if order_id(o) != discussed]
                found = await asyncio.wait_for(desk.shop.get_order(discussed, buyer_id=conv["buyer_id"]), 3)
                if found is not None:
                    orders.insert(0, found)
                else:
                    discussed = None  # not this buyer's order: nothing to show
        except Exception as e:
            log.warning("shop backend: %s", e)
    evs, rts = await queries.events_and_ratings(request.app[ENGINE], cid)
    messages = [desk.agent_message(m) for m in raw_messages]
    understood = await desk.rasa.understood(cid)
    if not full:
        conv = {**conv, "contact": mask_phone(conv["contact"]) if conv.get("contact") else None}
        messages = [{**m, "text": mask_phones(m["text"])} for m in messages]
        for u in understood or []:
            u["text"] = mask_phones(u.get("text"))
            for e in u["entities"]:
                e["value"] = mask_phones(e.get("value"))
    return jsonr(
        {
            "conversation": conv,
            "unmasked": full,
            "messages": messages,
            "understood": understood,
            "buyer": buyer,
            "orders": orders,
            "discussed_order_id": discussed if orders and discussed else None,
            # the audit records are for supervisors (/api/audit), not the conversation's timeline
            "events": [e for e in evs if e["name"] != "buyer.viewed"],
            "ratings": [{**r, "comment": r["comment"] if full else mask_phones(r["comment"])} for r in rts],
            "warnings": await desk.warnings(open_only=False, conversation_id=cid),
        }
    )


async def _text_body(request: web.Request, key: str = "text") -> str:
    body = await json_object(request)
    text = body.get(key)
    text = clean_text(text) if isinstance(text, str) else ""
    if not text:
        raise DeskError("empty", 400)
    if len(text) > int(request.app[CONFIG].limit("message_chars")):
        raise DeskError("too_long", 400)
    return text


def _guard_check(desk: Desk, text: str) -> Dict[str, Any]:
    from guard import Context, check_agent_draft

    return check_agent_draft(text, Context(platform=desk.store.platform, store=desk.store, speaker="agent"))


async def guard_check(desk: Desk, text: str) -> Dict[str, Any]:
    # spaCy work off the event loop: the websockets stay responsive while it runs
    return await asyncio.get_running_loop().run_in_executor(None, _guard_check, desk, text)


def warm_guard() -> None:
    from guard import get_checker

    get_checker()


@agent_required
async def api_guard(request: web.Request) -> web.Response:
    desk = request.app[DESK]
    return jsonr(await guard_check(desk, await _text_body(request)))


@agent_required
async def api_claim(request: web.Request) -> web.Response:
    conv = await request.app[DESK].claim(request.match_info["id"], request["agent"])
    return jsonr({"ok": True, "status": conv["status"]})


@agent_required
async def api_reply(request: web.Request) -> web.Response:
    desk = request.app[DESK]
    text = await _text_body(request)
    result = await desk.reply(request.match_info["id"], request["agent"], text, lambda t: guard_check(desk, t))
    await widget.mark_read(desk, await desk.conversation(request.match_info["id"]), request["agent"])
    return jsonr(result, 200 if result["sent"] else 422)


@agent_required
async def api_note(request: web.Request) -> web.Response:
    return jsonr(await request.app[DESK].note(request.match_info["id"], request["agent"], await _text_body(request)))


@agent_required
async def api_transfer(request: web.Request) -> web.Response:
    desk = request.app[DESK]
    to = await _text_body(request, "to")
    conv = await desk.transfer(
        request.match_info["id"], request["agent"], to, functools.partial(auth.get_agent, request.app[ENGINE])
    )
    return jsonr({"ok": True, "status": conv["status"]})


@agent_required
async def api_resolve(request: web.Request) -> web.Response:
    summary = (await json_object(request, empty_ok=True)).get("summary")  # what was resolved (optional)
    conv = await request.app[DESK].resolve(
        request.match_info["id"],
        request["agent"],
        ask_rating=True,
        summary=summary if isinstance(summary, str) else None,
    )
    return jsonr({"ok": True, "status": conv["status"]})


@agent_required
async def api_handback(request: web.Request) -> web.Response:
    summary = (await json_object(request, empty_ok=True)).get("summary")  # what was resolved (optional)
    conv = await request.app[DESK].resolve(
        request.match_info["id"],
        request["agent"],
        ask_rating=False,
        summary=summary if isinstance(summary, str) else None,
    )
    return jsonr({"ok": True, "status": conv["status"]})


@agent_required
async def api_quick_replies(request: web.Request) -> web.Response:
    desk, agent = request.app[DESK], request["agent"]
    groups = []
    for g in request.app[CONFIG].quick_replies.get("groups", []):
        groups.append(
            {
                "name": g["name"],
                "replies": [
                    r.format(agent_number=agent["number"], deadline_hours=desk.store.complaints.simple_hours)
                    for r in g.get("replies", [])
                ],
            }
        )
    return jsonr({"groups": groups})


@agent_required
async def api_labels(request: web.Request) -> web.Response:
    # the console's words for status, priority, order status and event codes (desk/labels.yml)
    return jsonr(request.app[CONFIG].labels)


@agent_required
async def api_warning_advance(request: web.Request) -> web.Response:
    body = await json_object(request, empty_ok=True)
    close = body.get("close") if body.get("close") in ("satisfied", "unsatisfied") else None
    wid = request.match_info["wid"]
    if not (wid.isascii() and wid.isdigit() and len(wid) <= 15):
        return jsonr({"error": "not_found"}, 404)
    await request.app[DESK].advance_warning(int(wid), request["agent"], close=close)
    return jsonr({"ok": True})


async def console_ws(request: web.Request) -> web.WebSocketResponse:
    hub = request.app[HUB]
    if not origin_allowed(request):
        raise web.HTTPForbidden(text="origin not allowed")
    agent = await current_agent(request)
    if agent is None:
        raise web.HTTPUnauthorized(text="login required")
    if agent["role"] not in CONSOLE_ROLES:
        raise web.HTTPForbidden(text="not a console account")
    ws = web.WebSocketResponse(heartbeat=30, max_msg_size=16 * 1024)
    await ws.prepare(request)
    hub.agents[ws] = agent
    try:
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            data = frame_object(msg.data)
            if data is None:
                await ws.send_str('{"type":"error","error":"bad_frame"}')
                continue
            if data.get("type") == "ping":
                await ws.send_str('{"type":"pong"}')
            elif data.get("type") == "read":
                await widget.console_read(request.app[DESK], agent, data)
            elif (
                data.get("type") == "typing"
                and isinstance(data.get("conversation_id"), str)
                and len(data["conversation_id"]) <= 64
            ):
                try:
                    conv = await request.app[DESK].conversation(data["conversation_id"])
                    if conv and conv["assigned_to"] == agent["id"]:
                        await hub.to_shopper(
                            conv["id"], {"type": "typing", "on": bool(data.get("on", True)), "who": "agent"}
                        )
                except Exception:
                    log.exception("console frame")
    finally:
        hub.agents.pop(ws, None)
        # the last console of an online agent closed: nobody is there to take new chats
        if (
            not any(a["id"] == agent["id"] for a in hub.agents.values())
            and await request.app[DESK].presence_of(agent["id"]) != "offline"
        ):
            await request.app[DESK].set_presence(agent, "offline")
    return ws
