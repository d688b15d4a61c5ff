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
import shutil
import uuid
from collections import deque
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Dict, Optional
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from desk import auth
from desk.config import HERE, DeskConfig
from desk.db import open_engine
from desk.hub import Hub
from desk.rasa import RasaClient
from desk.service import Desk, DeskError, clean_text, mask_phones
from desk.tokens import issue_token, verify_media, verify_token
from xiaoer.privacy import mask_phone

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


def parse_json(text: Any) -> Any:
    """json.loads that turns every kind of bad input (also nesting deep enough
    for a RecursionError) into DeskError 400."""
    try:
        return json.loads(text)
    except (ValueError, TypeError, RecursionError):
        raise DeskError("bad_request", 400) from None


async def json_object(request: web.Request, *, empty_ok: bool = False) -> Dict[str, Any]:
    try:
        raw = await request.text()
    except (ValueError, UnicodeDecodeError):
        raise DeskError("bad_request", 400) from None
    if empty_ok and not raw.strip():
        return {}
    data = parse_json(raw)
    if not isinstance(data, dict):
        raise DeskError("bad_request", 400)
    return data


def sniff_photo(head: bytes) -> Optional[str]:
    """The type by content, not by what the browser claims."""
    for magic, ctype in PHOTO_MAGIC.items():
        if head.startswith(magic):
            return ctype
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


# ---- origins and authentication ---------------------------------------------------------
LOOPBACK = {"localhost", "127.0.0.1", "::1"}


def origin_allowed(request: web.Request) -> bool:
    """The Origin must be one of the configured public origins (or allowed_origins);
    the Host header is the client's to choose and proves nothing."""
    origin = (request.headers.get("Origin") or "").rstrip("/")
    if not origin:
        return False
    config = request.app[CONFIG]
    if origin in config.public_origins or origin in config.allowed_origins:
        return True
    if config.public_origins:
        return False
    try:  # nothing configured: the demo on this machine only
        parts = urlsplit(origin)
        return parts.scheme in ("http", "https") and parts.hostname in LOOPBACK and not parts.path
    except ValueError:
        return False


async def current_agent(request: web.Request) -> Optional[Dict[str, Any]]:
    return await auth.session_agent(request.app[ENGINE], request.cookies.get(SESSION_COOKIE),
                                    at=request.app[CONFIG].clock())


CONSOLE_ROLES = ("agent", "supervisor")  # a trainer's account is for /trainer only (desk/trainer_views.py)


def agent_required(handler, roles=CONSOLE_ROLES):
    @functools.wraps(handler)
    async def wrapper(request: web.Request) -> web.StreamResponse:
        agent = await current_agent(request)
        if agent is None:
            return jsonr({"error": "login_required"}, 401)
        if agent["role"] not in roles:
            return jsonr({"error": "wrong_role"}, 403)
        if request.method != "GET" and not origin_allowed(request):
            # the cookie is SameSite=Strict; the origin check is the second lock against CSRF
            return jsonr({"error": "bad_origin"}, 403)
        request["agent"] = agent
        return await handler(request)
    return wrapper


def supervisor_required(handler):
    @functools.wraps(handler)
    async def wrapper(request: web.Request) -> web.StreamResponse:
        if request["agent"]["role"] != "supervisor":
            return jsonr({"error": "supervisor_only"}, 403)
        return await handler(request)
    return agent_required(wrapper)


def shopper_buyer(request: web.Request, token: Optional[str]) -> Optional[str]:
    return verify_token(request.app[CONFIG].secret, token)


@web.middleware
async def errors(request: web.Request, handler):
    """A refused request is a clean JSON 4xx; an unexpected failure a bare 500 with
    the traceback in the log only."""
    try:
        return await handler(request)
    except DeskError as e:
        return jsonr({"error": e.code}, e.status)
    except web.HTTPException:
        raise
    except (asyncio.CancelledError, ConnectionResetError):
        raise
    except Exception:
        log.exception("%s %s failed", request.method, request.path)
        return jsonr({"error": "internal"}, 500)


async def security_headers(request: web.Request, resp: web.StreamResponse) -> None:
    """on_response_prepare: every response, also raised 401/403/404s, files and websockets."""
    resp.headers.setdefault("X-Content-Type-Options", "nosniff")
    resp.headers.setdefault("Referrer-Policy", "same-origin")
    resp.headers.setdefault("Content-Security-Policy",
                            "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
                            "connect-src 'self' ws: wss:; frame-ancestors 'self'")
    if request.app[CONFIG].cookies_secure:
        resp.headers.setdefault("Strict-Transport-Security", "max-age=31536000")


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
    try:
        form = await request.post()
    except (ValueError, AssertionError, UnicodeDecodeError, LookupError):
        raise web.HTTPBadRequest(text="bad form") from None
    buyer_id = str(form.get("buyer_id", ""))
    if not (buyer_id.startswith(("buyer_", "tb_")) and 4 < len(buyer_id) <= 32 and buyer_id.isascii()):
        raise web.HTTPBadRequest(text="unknown buyer")
    resp = web.HTTPFound("/")
    resp.set_cookie(SHOPPER_COOKIE, issue_token(config.secret, buyer_id, days=config.token_days),
                    httponly=True, samesite="Lax", max_age=config.token_days * 86400, secure=config.cookies_secure)
    raise resp


async def static_file(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    path = STATIC / name
    if not path.is_file():
        raise web.HTTPNotFound()
    return web.FileResponse(path, headers={"Cache-Control": "no-cache"})


async def vendor_chartjs(request: web.Request) -> web.StreamResponse:
    # Vendored from npm (desk/static/vendor/README.md); versioned by its path, so it may be cached.
    return web.FileResponse(STATIC / "vendor" / "chartjs" / "chart.umd.js", headers={"Cache-Control": "max-age=86400"})


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


def frame_object(text: str) -> Optional[Dict[str, Any]]:
    try:
        data = json.loads(text)
    except (ValueError, TypeError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


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

    async def notice(key: str, **kw: Any) -> None:
        await ws.send_str(dumps({"type": "notice", "text": desk.say(key, **kw)}))

    try:
        conv = await desk.conversation(conv["id"])
        await ws.send_str(dumps({"type": "history", "conversation_id": conv["id"], "status": conv["status"],
                                 "human": conv["status"] == "assigned", "awaiting_rating": conv["awaiting_rating"],
                                 "welcome": desk.say("welcome"),
                                 "messages": await desk.history(conv["id"])}))
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
                await notice("too_fast")
                continue
            try:
                await _shopper_frame(desk, hub, conv, data, notice, max_chars)
            except DeskError:
                pass
            except Exception:  # the message is stored first; keep the socket alive
                log.exception("shopper frame in %s", conv["id"])
    finally:
        hub.shoppers[conv["id"]].discard(ws)
    return ws


async def _shopper_frame(desk: Desk, hub: Hub, conv: Dict[str, Any], data: Dict[str, Any], notice,
                         max_chars: int) -> None:
    kind = data.get("type")
    if kind == "message":
        text = data.get("text")
        text = clean_text(text) if isinstance(text, str) else ""
        if not text:
            await notice("empty")
        elif len(text) > max_chars:
            await notice("too_long", limit=max_chars)
        else:
            await desk.shopper_message(conv["id"], text)
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


UPLOAD_LIMITS = web.AppKey("upload_limits", dict)


async def _buyer_bytes(desk: Desk, upload_dir: Path, buyer_id: str) -> int:
    """What this buyer's photos take on disk, over all their conversations."""
    from sqlalchemy import select
    from desk import db
    async with desk.engine.connect() as conn:
        ids = [r[0] for r in (await conn.execute(select(db.conversations.c.id)
                                                 .where(db.conversations.c.buyer_id == buyer_id))).all()]
    total = 0
    for cid in ids:
        folder = upload_dir / cid
        if folder.is_dir():
            total += sum(f.stat().st_size for f in folder.iterdir() if f.is_file())
    return total


async def shopper_upload(request: web.Request) -> web.Response:
    """1-3 photos from the shopper (type sniffed and size checked here, not only in the widget);
    per buyer at most `uploads_per_hour` uploads and `upload_bytes_per_buyer` on disk."""
    config, desk = request.app[CONFIG], request.app[DESK]
    token = (request.headers.get("Authorization") or "").removeprefix("Bearer ").strip()
    buyer_id = shopper_buyer(request, token) or shopper_buyer(request, request.cookies.get(SHOPPER_COOKIE))
    if buyer_id is None:
        return jsonr({"error": "bad_token"}, 401)
    if not origin_allowed(request):
        return jsonr({"error": "bad_origin"}, 403)
    limiter = request.app[UPLOAD_LIMITS].setdefault(
        buyer_id, RateLimit(int(config.limits.get("uploads_per_hour", 10)), 3600.0))
    if not limiter.allow():
        return jsonr({"error": "too_fast", "text": desk.say("photo_too_fast")}, 429)
    upload_dir = Path(config.upload_dir)
    min_free = int(config.limits.get("min_free_disk_mb", 500)) * 1_000_000
    quota = int(config.limits.get("upload_bytes_per_buyer", 30_000_000))
    conv = await desk.conversation_for_buyer(buyer_id)
    max_n, max_bytes = int(config.limit("photos_per_upload")), int(config.limit("photo_bytes"))
    allowed = set(config.limit("photo_types"))
    used = await _buyer_bytes(desk, upload_dir, buyer_id)
    saved = []
    folder = upload_dir / conv["id"]

    def refuse(error: str, key: str, status: int, **kw: Any) -> web.Response:
        _cleanup(saved, folder)
        return jsonr({"error": error, "text": desk.say(key, **kw)}, status)

    try:
        reader = await request.multipart()
        while True:
            part = await reader.next()
            if part is None:
                break
            if part.name != "photo":
                await part.release()
                continue
            if len(saved) >= max_n:
                return refuse("too_many", "photo_too_many", 413, limit=max_n)
            body = bytearray()
            while True:
                chunk = await part.read_chunk(64 * 1024)
                if not chunk:
                    break
                body.extend(chunk)
                if len(body) > max_bytes:
                    return refuse("too_big", "photo_too_big", 413, limit=max_bytes // 1_000_000)
            ctype = sniff_photo(bytes(body[:16]))
            if ctype is None or ctype not in allowed:
                return refuse("bad_type", "photo_bad_type", 415)
            used += len(body)
            if used > quota:
                return refuse("quota", "photo_quota", 413)
            upload_dir.mkdir(parents=True, exist_ok=True)
            if shutil.disk_usage(upload_dir).free - len(body) < min_free:
                log.warning("upload refused: less than %s MB free on %s", min_free // 1_000_000, upload_dir)
                return refuse("disk_full", "photo_quota", 413)
            folder.mkdir(parents=True, exist_ok=True)
            name = uuid.uuid4().hex + EXT[ctype]
            (folder / name).write_bytes(bytes(body))
            saved.append({"name": name, "type": ctype, "size": len(body)})
    except (ValueError, AssertionError, RuntimeError, aiohttp.ClientPayloadError, LookupError) as e:
        # a truncated or malformed multipart body: nothing half-written stays behind
        log.info("bad upload from %s: %s", buyer_id, type(e).__name__)
        return refuse("bad_request", "not_text", 400)
    if not saved:
        return jsonr({"error": "no_photo", "text": desk.say("photo_bad_type")}, 400)
    photos = [{"url": f"/media/{conv['id']}/{p['name']}", "type": p["type"], "size": p["size"]} for p in saved]
    await desk.shopper_message(conv["id"], "", photos=photos)
    return jsonr({"ok": True, "photos": desk.signed_photos(photos)})


def _cleanup(saved, folder: Path) -> None:
    for p in saved:
        (folder / p["name"]).unlink(missing_ok=True)


async def media(request: web.Request) -> web.StreamResponse:
    """A photo: for an agent's session, or with the short-lived signature the shopper's
    history carries (never the shopper's long-lived token)."""
    config = request.app[CONFIG]
    conv_id, name = request.match_info["conv"], request.match_info["name"]
    if not (conv_id.isascii() and conv_id.isalnum() and name.isascii() and name.replace(".", "").isalnum()):
        raise web.HTTPNotFound()
    allowed = (await current_agent(request) or {}).get("role") in CONSOLE_ROLES
    if not allowed:
        allowed = verify_media(config.secret, f"{conv_id}/{name}", request.query.get("e"), request.query.get("s"),
                               now=config.clock().timestamp())
    if not allowed:
        raise web.HTTPForbidden()
    path = Path(config.upload_dir) / conv_id / name
    if not path.is_file():
        raise web.HTTPNotFound()
    return web.FileResponse(path, headers={"Cache-Control": "private, max-age=600"})


# ---- the agent API -------------------------------------------------------------------------
async def api_login(request: web.Request) -> web.Response:
    config = request.app[CONFIG]
    if not origin_allowed(request):
        return jsonr({"error": "bad_origin"}, 403)
    body = await json_object(request)
    name, password = body.get("name"), body.get("password")
    if not isinstance(name, str) or not isinstance(password, str) or not name or len(name) > 64 \
            or len(password) > 1024:
        return jsonr({"error": "bad_request"}, 400)
    try:
        token = await auth.login(request.app[ENGINE], name, password, at=config.clock(),
                                 hours=config.session_hours, hasher=auth.make_hasher(config.argon2),
                                 address=request.remote or "unknown", throttle=config.login)
    except auth.LoginThrottled as e:
        minutes = max(1, -(-e.retry_after // 60))
        resp = jsonr({"error": "locked", "retry_after": e.retry_after,
                      "text": request.app[DESK].say("login_locked", minutes=minutes)}, 429)
        resp.headers["Retry-After"] = str(e.retry_after)
        return resp
    if token is None:
        return jsonr({"error": "wrong_login"}, 401)
    resp = jsonr({"ok": True})
    resp.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="Strict", max_age=config.session_hours * 3600,
                    path="/", secure=config.cookies_secure)
    return resp


@supervisor_required
async def api_unlock(request: web.Request) -> web.Response:
    """A supervisor lifts a login lock: {"address": "..."} optionally lifts that client's too."""
    body = await json_object(request, empty_ok=True)
    address = body.get("address") if isinstance(body.get("address"), str) else None
    name = request.match_info["name"]
    if len(name) > 64:
        return jsonr({"error": "not_found"}, 404)
    await auth.unlock(request.app[ENGINE], name, by=request["agent"]["name"], at=request.app[CONFIG].clock(),
                      address=address)
    return jsonr({"ok": True})


@supervisor_required
async def api_audit(request: web.Request) -> web.Response:
    """Who viewed which buyer's data (the buyer.viewed records), newest first."""
    from sqlalchemy import select
    from desk import db
    q = select(db.events).where(db.events.c.name == "buyer.viewed").order_by(db.events.c.id.desc()).limit(500)
    async with request.app[ENGINE].connect() as conn:
        rows = [dict(r._mapping) for r in (await conn.execute(q)).all()]
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
    from sqlalchemy import select
    from desk import db
    async with request.app[ENGINE].connect() as conn:
        rows = (await conn.execute(select(db.agents.c.id, db.agents.c.name, db.agents.c.number,
                                          db.agents.c.role))).all()
    desk = request.app[DESK]
    return jsonr([{"name": r.name, "number": r.number, "role": r.role, "presence": desk.presence_of(r.id)}
                  for r in rows])


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
    await desk.record_event(cid, "buyer.viewed", agent["name"], buyer_id=conv["buyer_id"], unmasked=full,
                            role=agent["role"])
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
    from sqlalchemy import select
    from desk import db
    async with request.app[ENGINE].connect() as conn:
        evs = (await conn.execute(select(db.events).where(db.events.c.conversation_id == cid)
                                  .order_by(db.events.c.id))).all()
        rts = (await conn.execute(select(db.ratings).where(db.ratings.c.conversation_id == cid))).all()
    messages = [desk.agent_message(m) for m in raw_messages]
    understood = await desk.rasa.understood(cid)
    if not full:
        conv = {**conv, "contact": mask_phone(conv["contact"]) if conv.get("contact") else None}
        messages = [{**m, "text": mask_phones(m["text"])} for m in messages]
        for u in understood or []:
            u["text"] = mask_phones(u.get("text"))
            for e in u["entities"]:
                e["value"] = mask_phones(e.get("value"))
    return jsonr({
        "conversation": conv,
        "unmasked": full,
        "messages": messages,
        "understood": understood,
        "buyer": buyer, "orders": orders,
        "discussed_order_id": discussed if orders and discussed else None,
        # the audit records are for supervisors (/api/audit), not the conversation's timeline
        "events": [dict(e._mapping) for e in evs if e.name != "buyer.viewed"],
        "ratings": [{**r._mapping, "comment": r.comment if full else mask_phones(r.comment)} for r in rts],
        "warnings": await desk.warnings(open_only=False, conversation_id=cid),
    })


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
            elif data.get("type") == "typing" and isinstance(data.get("conversation_id"), str) \
                    and len(data["conversation_id"]) <= 64:
                try:
                    conv = await request.app[DESK].conversation(data["conversation_id"])
                    if conv and conv["assigned_to"] == agent["id"]:
                        await hub.to_shopper(conv["id"], {"type": "typing", "on": bool(data.get("on", True)),
                                                          "who": "agent"})
                except Exception:
                    log.exception("console frame")
    finally:
        hub.agents.pop(ws, None)
        # the last console of an online agent closed: nobody is there to take new chats
        if not any(a["id"] == agent["id"] for a in hub.agents.values()) \
                and request.app[DESK].presence_of(agent["id"]) != "offline":
            await request.app[DESK].set_presence(agent, "offline")
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
    desk = Desk(config, engine, RasaClient(session, config.rasa_url, config.rasa_token, config.rasa_timeout,
                                  config.channel_secret),
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
        # never the password itself: this goes to logs/desk.log
        print(f"desk: demo accounts {config.demo_agent.get('name')} / {config.demo_supervisor.get('name')} created; "
              + (f"password in {note} (readable by this user only)" if note else
                 "password not shown: set XIAOER_DESK_AGENT_PASSWORD or use `python -m desk create-agent`"),
              flush=True)


def os_chmod(path: Path) -> None:
    import os
    os.chmod(path, 0o600)


def create_app(config: DeskConfig) -> web.Application:
    app = web.Application(middlewares=[errors], client_max_size=16 * 1024 * 1024)
    app[CONFIG] = config
    app[HUB] = Hub(config.hub_url)
    app[UPLOAD_LIMITS] = {}
    app.on_response_prepare.append(security_headers)
    app.cleanup_ctx.append(_hub)
    app.cleanup_ctx.append(_resources)
    r = app.router
    r.add_get("/health", health)
    r.add_get("/", storefront)
    r.add_post("/shop/login", shop_login)
    r.add_get("/console", console_page)
    r.add_get(r"/{name:(widget\.js|widget\.css|console\.js|console\.css)}", static_file)
    r.add_get(r"/vendor/chartjs/chart.umd.js", vendor_chartjs)
    r.add_get("/ws/shop", shopper_ws)
    r.add_post("/api/shop/upload", shopper_upload)
    r.add_get("/media/{conv}/{name}", media)
    r.add_post("/api/login", api_login)
    r.add_post("/api/logout", api_logout)
    r.add_get("/api/me", api_me)
    r.add_get("/api/agents", api_agents)
    r.add_post("/api/agents/{name}/unlock", api_unlock)
    r.add_get("/api/audit", api_audit)
    r.add_get("/api/queue", api_queue)
    r.add_get("/api/quick_replies", api_quick_replies)
    r.add_get("/api/labels", api_labels)
    r.add_post("/api/presence", api_presence)
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
    from desk import followups  # F1-F4: scheduler (one cleanup_ctx) + console routes, desk/followups.py
    followups.setup(app)
    from desk import trainer_views  # issue 14: the bot trainer's loop (routes + one cleanup_ctx)
    trainer_views.setup(app)
    return app
