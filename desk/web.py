"""HTTP and websocket layer of the desk: `create_app(config)`."""
from __future__ import annotations

import asyncio
import dataclasses
import enum
import functools
import html
import json
import logging
import secrets
import time
import uuid
from collections import deque
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Dict, Optional

import aiohttp
from aiohttp import web

from desk import auth
from desk.config import HERE, DeskConfig
from desk.db import open_engine
from desk.hub import Hub
from desk.rasa import RasaClient
from desk.service import Desk, DeskError, clean_text
from desk.tokens import issue_token, verify_token

log = logging.getLogger("xiaoer.desk")

CONFIG = web.AppKey("config", DeskConfig)
DESK = web.AppKey("desk", Desk)
HUB = web.AppKey("hub", Hub)
ENGINE = web.AppKey("engine", object)
STATIC = HERE / "static"
SESSION_COOKIE = "xiaoer_agent"
SHOPPER_COOKIE = "xiaoer_shopper"
PHOTO_MAGIC = {b"\xff\xd8\xff": "image/jpeg", b"\x89PNG\r\n\x1a\n": "image/png", b"GIF87a": "image/gif",
               b"GIF89a": "image/gif"}
EXT = {"image/jpeg": ".jpg", "image/png": ".png", "image/gif": ".gif", "image/webp": ".webp"}


def _default(o: Any) -> Any:
    if isinstance(o, datetime):
        return o.isoformat()
    if isinstance(o, (Decimal, enum.Enum)):
        return str(o.value if isinstance(o, enum.Enum) else o)
    if dataclasses.is_dataclass(o):
        return dataclasses.asdict(o)
    if isinstance(o, (set, frozenset, tuple)):
        return list(o)
    return str(o)


dumps = functools.partial(json.dumps, ensure_ascii=False, default=_default)


def jsonr(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=dumps)


def sniff_photo(head: bytes) -> Optional[str]:
    """The type by content, not by what the browser claims."""
    for magic, ctype in PHOTO_MAGIC.items():
        if head.startswith(magic):
            return ctype
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


# ---- origins and authentication ---------------------------------------------------------
def origin_allowed(request: web.Request) -> bool:
    origin = request.headers.get("Origin")
    if not origin:
        return False
    own = {f"http://{request.host}", f"https://{request.host}"}
    return origin in own or origin in request.app[CONFIG].allowed_origins


async def current_agent(request: web.Request) -> Optional[Dict[str, Any]]:
    return await auth.session_agent(request.app[ENGINE], request.cookies.get(SESSION_COOKIE),
                                    at=request.app[CONFIG].clock())


def agent_required(handler):
    @functools.wraps(handler)
    async def wrapper(request: web.Request) -> web.StreamResponse:
        agent = await current_agent(request)
        if agent is None:
            return jsonr({"error": "login_required"}, 401)
        if request.method != "GET" and not origin_allowed(request):
            # the cookie is SameSite=Strict; the origin check is the second lock against CSRF
            return jsonr({"error": "bad_origin"}, 403)
        request["agent"] = agent
        try:
            return await handler(request)
        except DeskError as e:
            return jsonr({"error": e.code}, e.status)
    return wrapper


def shopper_buyer(request: web.Request, token: Optional[str]) -> Optional[str]:
    return verify_token(request.app[CONFIG].secret, token)


@web.middleware
async def security_headers(request: web.Request, handler):
    resp = await handler(request)
    resp.headers.setdefault("X-Content-Type-Options", "nosniff")
    resp.headers.setdefault("Referrer-Policy", "same-origin")
    # on every response: a FileResponse (the console page) has no content type yet at this point
    resp.headers.setdefault("Content-Security-Policy",
                            "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
                            "connect-src 'self' ws: wss:; frame-ancestors 'self'")
    return resp


# ---- public pages -------------------------------------------------------------------------
async def health(request: web.Request) -> web.Response:
    return jsonr({"ok": True})


async def storefront(request: web.Request) -> web.Response:
    config, desk = request.app[CONFIG], request.app[DESK]
    store = desk.store
    token = request.cookies.get(SHOPPER_COOKIE)
    buyer_id = verify_token(config.secret, token)
    products = []
    if desk.shop is not None:
        try:
            products = await asyncio.wait_for(desk.shop.find_products(limit=40), 3)
        except Exception as e:  # the storefront still works without the catalogue
            log.warning("catalogue unavailable: %s", e)
    cards = "\n".join(
        f'<div class="product"><div class="cat">{html.escape(p.category)}</div>'
        f'<div class="name">{html.escape(p.name)}</div><div class="price">¥{html.escape(str(p.price))}'
        f'{"" if p.free_shipping else " <small>不包邮</small>"}</div></div>' for p in products
    ) or '<p class="empty">(商品目录暂不可用:运行 <code>python -m shop.demo</code>)</p>'
    buyers = [f"buyer_{i:03d}" for i in range(1, 19)]
    options = "".join(f'<option value="{b}"{" selected" if b == buyer_id else ""}>{b}</option>' for b in buyers)
    login = (f'<form method="post" action="/shop/login" class="login">以买家身份登录 '
             f'<select name="buyer_id">{options}</select> <button>登录</button></form>') if config.demo_login else ""
    widget = (f'<script src="/widget.js" data-token="{html.escape(token or "")}" defer></script>'
              if buyer_id else '<p class="hint">登录后右下角可以咨询客服。</p>')
    who = f"当前买家:{html.escape(buyer_id)}" if buyer_id else "未登录"
    page = (STATIC / "store.html").read_text(encoding="utf-8")
    page = (page.replace("{{store}}", html.escape(store.name)).replace("{{products}}", cards)
            .replace("{{login}}", login).replace("{{who}}", who).replace("{{widget}}", widget)
            .replace("{{hours}}", html.escape(store.agent_hours_text())))
    return web.Response(text=page, content_type="text/html")


async def shop_login(request: web.Request) -> web.Response:
    """Demo only: be logged in as a demo buyer. A real shop's own login issues the token."""
    config = request.app[CONFIG]
    if not config.demo_login:
        raise web.HTTPNotFound()
    form = await request.post()
    buyer_id = str(form.get("buyer_id", ""))
    if not (buyer_id.startswith(("buyer_", "tb_")) and 4 < len(buyer_id) <= 32 and buyer_id.isascii()):
        raise web.HTTPBadRequest(text="unknown buyer")
    resp = web.HTTPFound("/")
    resp.set_cookie(SHOPPER_COOKIE, issue_token(config.secret, buyer_id, days=config.token_days),
                    httponly=True, samesite="Lax", max_age=config.token_days * 86400)
    raise resp


async def static_file(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    path = STATIC / name
    if not path.is_file():
        raise web.HTTPNotFound()
    return web.FileResponse(path, headers={"Cache-Control": "no-cache"})


async def console_page(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(STATIC / "console.html", headers={"Cache-Control": "no-cache"})


# ---- the shopper's websocket --------------------------------------------------------------
class RateLimit:
    def __init__(self, count: int, seconds: float) -> None:
        self.count, self.seconds, self.times = count, seconds, deque()

    def allow(self) -> bool:
        now = time.monotonic()
        while self.times and now - self.times[0] > self.seconds:
            self.times.popleft()
        if len(self.times) >= self.count:
            return False
        self.times.append(now)
        return True


async def shopper_ws(request: web.Request) -> web.WebSocketResponse:
    config, desk, hub = request.app[CONFIG], request.app[DESK], request.app[HUB]
    if not origin_allowed(request):
        raise web.HTTPForbidden(text="origin not allowed")
    buyer_id = shopper_buyer(request, request.query.get("token"))
    if buyer_id is None:
        raise web.HTTPUnauthorized(text="bad token")
    conv = await desk.conversation_for_buyer(buyer_id)
    ws = web.WebSocketResponse(heartbeat=30, max_msg_size=64 * 1024)
    await ws.prepare(request)
    hub.shoppers[conv["id"]].add(ws)
    limit = RateLimit(int(config.limit("rate_messages")), float(config.limit("rate_seconds")))
    max_chars = int(config.limit("message_chars"))

    async def notice(key: str, **kw: Any) -> None:
        await ws.send_str(dumps({"type": "notice", "text": desk.say(key, **kw)}))

    try:
        conv = await desk.conversation(conv["id"])
        await ws.send_str(dumps({"type": "history", "conversation_id": conv["id"], "status": conv["status"],
                                 "human": conv["status"] == "assigned", "awaiting_rating": conv["awaiting_rating"],
                                 "messages": await desk.history(conv["id"])}))
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                if msg.type == aiohttp.WSMsgType.BINARY:
                    await notice("not_text")
                continue
            try:
                data = json.loads(msg.data)
                assert isinstance(data, dict)
            except (ValueError, AssertionError):
                await notice("not_text")
                continue
            kind = data.get("type")
            if kind == "ping":
                await ws.send_str('{"type":"pong"}')
                continue
            if not limit.allow():
                await notice("too_fast")
                continue
            if kind == "message":
                text = data.get("text")
                text = clean_text(text) if isinstance(text, str) else ""
                if not text:
                    await notice("empty")
                    continue
                if len(text) > max_chars:
                    await notice("too_long", limit=max_chars)
                    continue
                try:
                    await desk.shopper_message(conv["id"], text)
                except Exception:  # the message is stored first; keep the socket alive
                    log.exception("shopper message in %s", conv["id"])
            elif kind == "rating":
                try:
                    score = int(data.get("score"))
                    assert 1 <= score <= 5
                except (TypeError, ValueError, AssertionError):
                    continue
                comment = clean_text(str(data.get("comment") or ""))[:max_chars]
                try:
                    await desk.rate(conv["id"], score, comment)
                except DeskError:
                    pass
            elif kind == "typing":
                await hub.to_agents({"type": "typing", "conversation_id": conv["id"], "who": "shopper"})
    finally:
        hub.shoppers[conv["id"]].discard(ws)
    return ws


async def shopper_upload(request: web.Request) -> web.Response:
    """1-3 photos from the shopper (type sniffed and size checked here, not only in the widget)."""
    config, desk = request.app[CONFIG], request.app[DESK]
    token = (request.headers.get("Authorization") or "").removeprefix("Bearer ").strip()
    buyer_id = shopper_buyer(request, token)
    if buyer_id is None:
        return jsonr({"error": "bad_token"}, 401)
    if not origin_allowed(request):
        return jsonr({"error": "bad_origin"}, 403)
    conv = await desk.conversation_for_buyer(buyer_id)
    max_n, max_bytes = int(config.limit("photos_per_upload")), int(config.limit("photo_bytes"))
    allowed = set(config.limit("photo_types"))
    try:
        reader = await request.multipart()
    except (AssertionError, ValueError):
        return jsonr({"error": "bad_request", "text": desk.say("not_text")}, 400)
    saved = []
    folder = Path(config.upload_dir) / conv["id"]
    while True:
        part = await reader.next()
        if part is None:
            break
        if part.name != "photo":
            await part.release()
            continue
        if len(saved) >= max_n:
            _cleanup(saved, folder)
            return jsonr({"error": "too_many", "text": desk.say("photo_too_many", limit=max_n)}, 413)
        body = bytearray()
        while True:
            chunk = await part.read_chunk(64 * 1024)
            if not chunk:
                break
            body.extend(chunk)
            if len(body) > max_bytes:
                _cleanup(saved, folder)
                return jsonr({"error": "too_big", "text": desk.say("photo_too_big", limit=max_bytes // 1_000_000)},
                             413)
        ctype = sniff_photo(bytes(body[:16]))
        if ctype is None or ctype not in allowed:
            _cleanup(saved, folder)
            return jsonr({"error": "bad_type", "text": desk.say("photo_bad_type")}, 415)
        folder.mkdir(parents=True, exist_ok=True)
        name = uuid.uuid4().hex + EXT[ctype]
        (folder / name).write_bytes(bytes(body))
        saved.append({"name": name, "type": ctype, "size": len(body)})
    if not saved:
        return jsonr({"error": "no_photo", "text": desk.say("photo_bad_type")}, 400)
    photos = [{"url": f"/media/{conv['id']}/{p['name']}", "type": p["type"], "size": p["size"]} for p in saved]
    await desk.shopper_message(conv["id"], "", photos=photos)
    return jsonr({"ok": True, "photos": photos})


def _cleanup(saved, folder: Path) -> None:
    for p in saved:
        (folder / p["name"]).unlink(missing_ok=True)


async def media(request: web.Request) -> web.StreamResponse:
    desk, config = request.app[DESK], request.app[CONFIG]
    conv_id, name = request.match_info["conv"], request.match_info["name"]
    if not (conv_id.isalnum() and name.replace(".", "").isalnum()):
        raise web.HTTPNotFound()
    allowed = await current_agent(request) is not None
    if not allowed:
        buyer_id = shopper_buyer(request, request.query.get("t"))
        conv = await desk.conversation(conv_id)
        allowed = bool(buyer_id and conv and conv["buyer_id"] == buyer_id)
    if not allowed:
        raise web.HTTPForbidden()
    path = Path(config.upload_dir) / conv_id / name
    if not path.is_file():
        raise web.HTTPNotFound()
    return web.FileResponse(path, headers={"Cache-Control": "private, max-age=3600"})


# ---- the agent API -------------------------------------------------------------------------
async def api_login(request: web.Request) -> web.Response:
    config = request.app[CONFIG]
    if not origin_allowed(request):
        return jsonr({"error": "bad_origin"}, 403)
    try:
        body = await request.json()
        name, password = str(body["name"]), str(body["password"])
    except (ValueError, KeyError, TypeError):
        return jsonr({"error": "bad_request"}, 400)
    token = await auth.login(request.app[ENGINE], name, password, at=config.clock(), hours=config.session_hours,
                             hasher=auth.make_hasher(config.argon2))
    if token is None:
        return jsonr({"error": "wrong_login"}, 401)
    resp = jsonr({"ok": True})
    resp.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="Strict", max_age=config.session_hours * 3600,
                    path="/")
    return resp


@agent_required
async def api_logout(request: web.Request) -> web.Response:
    await auth.logout(request.app[ENGINE], request.cookies[SESSION_COOKIE])
    resp = jsonr({"ok": True})
    resp.del_cookie(SESSION_COOKIE, path="/")
    return resp


@agent_required
async def api_me(request: web.Request) -> web.Response:
    a = request["agent"]
    return jsonr({k: a[k] for k in ("id", "name", "number", "role")})


@agent_required
async def api_agents(request: web.Request) -> web.Response:
    from sqlalchemy import select
    from desk import db
    async with request.app[ENGINE].connect() as conn:
        rows = (await conn.execute(select(db.agents.c.name, db.agents.c.number, db.agents.c.role))).all()
    return jsonr([dict(r._mapping) for r in rows])


@agent_required
async def api_queue(request: web.Request) -> web.Response:
    desk, agent = request.app[DESK], request["agent"]
    out = {"queue": await desk.queue(), "now": desk.clock().isoformat()}
    if agent["role"] == "supervisor":
        out["warnings"] = await desk.warnings()
    return jsonr(out)


@agent_required
async def api_conversation(request: web.Request) -> web.Response:
    desk = request.app[DESK]
    cid = request.match_info["id"]
    conv = await desk.conversation(cid)
    if conv is None:
        return jsonr({"error": "not_found"}, 404)
    buyer, orders = None, []
    if desk.shop is not None:
        try:
            buyer = await asyncio.wait_for(desk.shop.get_buyer(conv["buyer_id"]), 3)
            orders = await asyncio.wait_for(desk.shop.recent_orders(conv["buyer_id"], limit=5), 3)
        except Exception as e:
            log.warning("shop backend: %s", e)
    from sqlalchemy import select
    from desk import db
    async with request.app[ENGINE].connect() as conn:
        evs = (await conn.execute(select(db.events).where(db.events.c.conversation_id == cid)
                                  .order_by(db.events.c.id))).all()
        rts = (await conn.execute(select(db.ratings).where(db.ratings.c.conversation_id == cid))).all()
    return jsonr({
        "conversation": conv,
        "messages": [desk.agent_message(m) for m in await desk.messages(cid)],
        "understood": await desk.rasa.understood(cid),
        "buyer": buyer, "orders": orders,
        "events": [dict(e._mapping) for e in evs],
        "ratings": [dict(r._mapping) for r in rts],
        "warnings": await desk.warnings(open_only=False, conversation_id=cid),
    })


async def _text_body(request: web.Request, key: str = "text") -> str:
    try:
        body = await request.json()
        text = body.get(key)
    except (ValueError, AttributeError):
        raise DeskError("bad_request", 400) from None
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


def _warm_guard() -> None:
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
    return jsonr(result, 200 if result["sent"] else 422)


@agent_required
async def api_note(request: web.Request) -> web.Response:
    return jsonr(await request.app[DESK].note(request.match_info["id"], request["agent"], await _text_body(request)))


@agent_required
async def api_transfer(request: web.Request) -> web.Response:
    desk = request.app[DESK]
    to = await _text_body(request, "to")
    conv = await desk.transfer(request.match_info["id"], request["agent"], to,
                               functools.partial(auth.get_agent, request.app[ENGINE]))
    return jsonr({"ok": True, "status": conv["status"]})


@agent_required
async def api_resolve(request: web.Request) -> web.Response:
    conv = await request.app[DESK].resolve(request.match_info["id"], request["agent"], ask_rating=True)
    return jsonr({"ok": True, "status": conv["status"]})


@agent_required
async def api_handback(request: web.Request) -> web.Response:
    conv = await request.app[DESK].resolve(request.match_info["id"], request["agent"], ask_rating=False)
    return jsonr({"ok": True, "status": conv["status"]})


@agent_required
async def api_quick_replies(request: web.Request) -> web.Response:
    desk, agent = request.app[DESK], request["agent"]
    groups = []
    for g in request.app[CONFIG].quick_replies.get("groups", []):
        groups.append({"name": g["name"], "replies": [
            r.format(agent_number=agent["number"], deadline_hours=desk.store.complaint_simple_hours)
            for r in g.get("replies", [])]})
    return jsonr({"groups": groups})


@agent_required
async def api_warning_advance(request: web.Request) -> web.Response:
    try:
        body = await request.json()
    except ValueError:
        body = {}
    close = body.get("close") if body.get("close") in ("satisfied", "unsatisfied") else None
    await request.app[DESK].advance_warning(int(request.match_info["wid"]), request["agent"], close=close)
    return jsonr({"ok": True})


async def console_ws(request: web.Request) -> web.WebSocketResponse:
    hub = request.app[HUB]
    if not origin_allowed(request):
        raise web.HTTPForbidden(text="origin not allowed")
    agent = await current_agent(request)
    if agent is None:
        raise web.HTTPUnauthorized(text="login required")
    ws = web.WebSocketResponse(heartbeat=30, max_msg_size=16 * 1024)
    await ws.prepare(request)
    hub.agents[ws] = agent
    try:
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            try:
                data = json.loads(msg.data)
            except ValueError:
                continue
            if isinstance(data, dict) and data.get("type") == "typing" and isinstance(data.get("conversation_id"), str):
                conv = await request.app[DESK].conversation(data["conversation_id"])
                if conv and conv["assigned_to"] == agent["id"]:
                    await hub.to_shopper(conv["id"], {"type": "typing", "on": bool(data.get("on", True)),
                                                      "who": "agent"})
    finally:
        hub.agents.pop(ws, None)
    return ws


# ---- the application ----------------------------------------------------------------------
async def _hub(app: web.Application):
    # the live updates shared with the other desk processes (Redis), when there are any
    await app[HUB].start()
    yield


async def _resources(app: web.Application):
    config = app[CONFIG]
    engine = await open_engine(config.db_url)
    app[ENGINE] = engine
    session = aiohttp.ClientSession()
    shop = config.shop
    if shop is None and config.shop_enabled:
        try:
            from shop.config import load_backend
            shop = load_backend()
            await shop.start()
        except Exception as e:  # the desk runs without buyer details rather than not at all
            log.warning("shop backend unavailable: %s", e)
            shop = None
    desk = Desk(config, engine, RasaClient(session, config.rasa_url, config.rasa_token, config.rasa_timeout),
                app[HUB], shop)
    app[DESK] = desk
    await ensure_demo_agents(app)
    if config.warm_guard:
        # the guard's first use loads spaCy and compiles the rule book (seconds, holding the GIL):
        # done before the desk serves, not in the middle of shoppers' conversations
        await asyncio.get_running_loop().run_in_executor(None, _warm_guard)
    task = None
    if config.start_escalation_task:
        task = asyncio.ensure_future(_escalation_loop(desk, float(config.escalation.get("check_seconds", 30))))
    yield
    if task:
        task.cancel()
    await app[HUB].close_all()
    await session.close()
    if shop is not None and config.shop is None:
        await shop.close()
    await engine.dispose()


async def _escalation_loop(desk: Desk, every: float) -> None:
    while True:
        try:
            await desk.tick()
        except Exception:
            log.exception("escalation tick failed")
        await asyncio.sleep(every)


async def ensure_demo_agents(app: web.Application) -> None:
    """The demo agent (工号 8) and a supervisor, if the desk has no accounts yet."""
    config = app[CONFIG]
    engine = app[ENGINE]
    from sqlalchemy import select
    from desk import db
    async with engine.connect() as conn:
        if (await conn.execute(select(db.agents.c.id).limit(1))).first():
            return
    password = config.demo_agent_password or secrets.token_urlsafe(9)
    for spec in (config.demo_agent, config.demo_supervisor):
        if spec:
            await auth.create_agent(engine, spec["name"], password, role=spec.get("role", "agent"),
                                    number=str(spec.get("number")), at=config.clock(),
                                    hasher=auth.make_hasher(config.argon2))
    if not config.demo_agent_password:
        note = config.demo_password_file
        try:
            if note is not None:
                note.parent.mkdir(parents=True, exist_ok=True)
                note.write_text(password + "\n")
                os_chmod(note)
        except OSError:
            note = None
        print(f"desk: demo accounts {config.demo_agent.get('name')} / {config.demo_supervisor.get('name')} "
              f"password {password}" + (f" (saved in {note})" if note else ""), flush=True)


def os_chmod(path: Path) -> None:
    import os
    os.chmod(path, 0o600)


def create_app(config: DeskConfig) -> web.Application:
    app = web.Application(middlewares=[security_headers], client_max_size=16 * 1024 * 1024)
    app[CONFIG] = config
    app[HUB] = Hub(config.hub_url)
    app.cleanup_ctx.append(_hub)
    app.cleanup_ctx.append(_resources)
    r = app.router
    r.add_get("/health", health)
    r.add_get("/", storefront)
    r.add_post("/shop/login", shop_login)
    r.add_get("/console", console_page)
    r.add_get(r"/{name:(widget\.js|widget\.css|console\.js|console\.css)}", static_file)
    r.add_get("/ws/shop", shopper_ws)
    r.add_post("/api/shop/upload", shopper_upload)
    r.add_get("/media/{conv}/{name}", media)
    r.add_post("/api/login", api_login)
    r.add_post("/api/logout", api_logout)
    r.add_get("/api/me", api_me)
    r.add_get("/api/agents", api_agents)
    r.add_get("/api/queue", api_queue)
    r.add_get("/api/quick_replies", api_quick_replies)
    r.add_post("/api/guard/check", api_guard)
    r.add_get("/api/conversations/{id}", api_conversation)
    r.add_post("/api/conversations/{id}/claim", api_claim)
    r.add_post("/api/conversations/{id}/reply", api_reply)
    r.add_post("/api/conversations/{id}/note", api_note)
    r.add_post("/api/conversations/{id}/transfer", api_transfer)
    r.add_post("/api/conversations/{id}/resolve", api_resolve)
    r.add_post("/api/conversations/{id}/handback", api_handback)
    r.add_post("/api/warnings/{wid}/advance", api_warning_advance)
    r.add_get("/ws/console", console_ws)
    return app
