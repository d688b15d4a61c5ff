"""The shopper widget's extras (issue 13): its words, order cards and read marks.

- Words: everything the widget writes itself comes from desk/messages.yml
  (`widget:` and the notices with limits), served at GET /widget/words.json.
- Order cards: a bot button whose payload is an order number (the order list,
  actions/orders.py) gets a `card` (thumbnail, product name, status in Chinese):
  from the shop backend when the desk has one (only the buyer's own orders),
  else from the button title the bot wrote ("<id> <status> <items>").
- Read marks: when the agent who serves the shopper opens the conversation,
  replies, or the console says so over its socket ({"type": "read"}), the
  shopper's messages up to then are marked read. Recorded as the event
  `messages.read` (data.up_to = the last shopper message id), so a reload shows
  them, and pushed to the shopper's sockets as {"type": "read", "up_to": id}.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Dict, List, Optional

from aiohttp import web
from sqlalchemy import func, select

from desk import db
from xiaoer.lexicon import ORDER_ID_RE

log = logging.getLogger("xiaoer.desk.widget")

READ_EVENT = "messages.read"
NAME_CHARS = 24


# ---- words --------------------------------------------------------------------------------
def words(desk) -> Dict[str, Any]:
    """The widget's words: the `widget:` section, plus the desk's notices it shows itself
    (limits filled in), so no Chinese is written in widget.js."""
    out = dict(desk.config.messages.get("widget") or {})
    out["too_long"] = desk.say("too_long", limit=int(desk.config.limit("message_chars")))
    out["photo_too_many"] = desk.say("photo_too_many", limit=int(desk.config.limit("photos_per_upload")))
    out["photo_too_big"] = desk.say("photo_too_big", limit=int(desk.config.limit("photo_bytes")) // 1_000_000)
    out["limits"] = {
        "message_chars": int(desk.config.limit("message_chars")),
        "photos": int(desk.config.limit("photos_per_upload")),
        "photo_bytes": int(desk.config.limit("photo_bytes")),
    }
    return out


async def words_json(request: web.Request) -> web.Response:
    from desk.web import DESK, jsonr, origin_allowed

    resp = jsonr(words(request.app[DESK]))
    if origin_allowed(request):  # a widget embedded on the shop's own site (CORS)
        resp.headers["Access-Control-Allow-Origin"] = request.headers["Origin"]
        resp.headers["Vary"] = "Origin"
    return resp


# ---- order cards ----------------------------------------------------------------------------
def _thumb(desk, category: Optional[str], name: str) -> str:
    thumbs = (desk.config.messages.get("widget") or {}).get("thumbs") or {}
    if category and thumbs.get(category):
        return str(thumbs[category])
    for word, icon in thumbs.items():  # the product word in the name ("…蓝牙耳机")
        if word in name:
            return str(icon)
    return name[:1]


def _short(text: str) -> str:
    return text if len(text) <= NAME_CHARS else text[:NAME_CHARS] + "…"


def card_from_title(desk, order_id: str, title: str) -> Optional[Dict[str, Any]]:
    """What the bot's button title already says: "<id> <status> <items>"."""
    parts = title.split(" ", 2)
    if len(parts) < 3 or parts[0] != order_id:
        return None
    name = parts[2].split("、")[0]
    return {
        "order_id": order_id,
        "status": parts[1],
        "name": _short(name),
        "more": parts[2].count("、"),
        "thumb": _thumb(desk, None, name),
    }


async def card_from_shop(desk, buyer_id: str, order_id: str) -> Optional[Dict[str, Any]]:
    order = await asyncio.wait_for(desk.shop.get_order(order_id, buyer_id=buyer_id), 3)
    if order is None or not order.items:  # not this buyer's order: nothing to show
        return None
    first = order.items[0]
    category = None
    try:
        product = await asyncio.wait_for(desk.shop.get_product(first.product_id), 3)
        category = product.category if product else None
    except Exception:  # a card without its picture rather than none
        pass
    return {
        "order_id": order.order_id,
        "status": order.status.label_zh,
        "name": _short(first.name),
        "spec": first.spec or "",
        "more": len(order.items) - 1,
        "thumb": _thumb(desk, category, first.name),
    }


async def add_order_cards(desk, buyer_id: str, buttons: List[Dict[str, Any]]) -> None:
    """Give each order button its card (in place)."""
    for b in buttons:
        payload = str(b.get("payload") or "")
        if not ORDER_ID_RE.fullmatch(payload):
            continue
        card = None
        if desk.shop is not None:
            try:
                card = await card_from_shop(desk, buyer_id, payload)
            except Exception as e:
                log.warning("order card %s: %s", payload, e)
        card = card or card_from_title(desk, payload, str(b.get("title") or ""))
        if card:
            b["card"] = card


# ---- read marks -------------------------------------------------------------------------------
async def read_up_to(desk, conv_id: str) -> int:
    def read(conn):
        return conn.execute(db.SELECT_LAST_EVENT_DATA, {"conversation_id": conv_id, "name": READ_EVENT}).all()

    rows = await desk.engine.run(read, write=False)
    return int((rows[0][0] or {}).get("up_to", 0)) if rows else 0


async def mark_read(desk, conv: Optional[Dict[str, Any]], agent: Dict[str, Any]) -> Optional[int]:
    """The agent serving the shopper has seen their messages: mark them read. Only the
    owner of the conversation counts (a supervisor looking on, or an agent browsing
    the queue, has not answered the shopper)."""
    if not conv or conv.get("assigned_to") != agent.get("id") or conv.get("status") != "assigned":
        return None
    async with desk.engine.connect() as conn:
        last = (
            await conn.execute(
                select(func.max(db.messages.c.id)).where(
                    db.messages.c.conversation_id == conv["id"], db.messages.c.sender == "shopper"
                )
            )
        ).scalar()
    if not last or last <= await read_up_to(desk, conv["id"]):
        return None
    await desk.record_event(conv["id"], READ_EVENT, agent["name"], up_to=int(last))
    await desk.hub.to_shopper(conv["id"], {"type": "read", "up_to": int(last)})
    return int(last)


async def console_read(desk, agent: Dict[str, Any], data: Dict[str, Any]) -> None:
    """The console's {"type": "read", "conversation_id": ...} frame: the agent has the
    conversation open while a shopper message arrives."""
    cid = data.get("conversation_id")
    if not (isinstance(cid, str) and 0 < len(cid) <= 64):
        return
    try:
        await mark_read(desk, await desk.conversation(cid), agent)
    except Exception:  # the console's socket stays open
        log.exception("read mark for %s", cid)


def setup(app: web.Application) -> None:
    app.router.add_get("/widget/words.json", words_json)
