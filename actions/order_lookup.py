"""Finding the shopper's order and what a reply may show of it (O1-O8, A1-A4).

Who is asking comes only from the storefront session
(`tracker.latest_message["metadata"]["buyer_id"]`, see actions.records.buyer_id);
the backend answers every order question for that buyer only, and an order
of someone else reads exactly like an unknown number (seed 003: 只和拍下的账号
核对信息).
"""

from __future__ import annotations

import re
from typing import Dict, List, Optional, Sequence

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet

from actions.common import (
    ORDER_PURPOSE_SLOT,
    ORDER_REQUEST_SLOT,
    latest_entity,
    matches,
    order_pick,
    store,
    subtopics,
    text_of,
)
from actions.records import due_in, record_promise
from actions.steps import Step, pending
from actions.turn import Turn
from shop.models import Order, yuan_text
from shop.rules import ship_deadline, transit_estimate
from shop.status import OrderStatus
from shop.timeutil import local_text
from xiaoer.lexicon import ORDER_ID_RE, PHONE_RE
from xiaoer.text import normalize

S = OrderStatus

# How soon the store promises to come back on a courier question (O4, O5,
# interception) or an overdue shipment (O3).
FOLLOW_UP_HOURS = 24

# Text that tries to be an order number but is not one (too short/long).
ALMOST_ORDER_ID_RE = re.compile(r"(?<![A-Za-z0-9])(?:[Dd][Dd]\d{3,}|\d{12,15}|\d{20,})(?![A-Za-z0-9])")

# Which of the buyer's orders an order list shows, by what it is for
# (actions.common.PURPOSE_ACTION).
PURPOSE_STATUSES = {
    # "我的订单到哪了": the orders still on their way or being handled; a cancelled or closed
    # order is looked up only when its number is typed
    "query": tuple(s for s in S if s not in (S.CANCELLED, S.CLOSED)),
    # O4 "物流几天没更新": only orders on their way (or waiting to ship) can be late
    "delay": (S.PAID, S.SHIPPED, S.IN_TRANSIT, S.OUT_FOR_DELIVERY),
    "change": (S.UNPAID, S.PAID, S.SHIPPED, S.IN_TRANSIT, S.OUT_FOR_DELIVERY),
    "cancel": (S.UNPAID, S.PAID, S.SHIPPED, S.IN_TRANSIT, S.OUT_FOR_DELIVERY),
    "return": (
        S.PAID,
        S.SHIPPED,
        S.IN_TRANSIT,
        S.OUT_FOR_DELIVERY,
        S.DELIVERED,
        S.COMPLETED,
        S.REFUND_REQUESTED,
        S.RETURNING,
        S.REFUNDED,
    ),
    "quality": (S.SHIPPED, S.IN_TRANSIT, S.OUT_FOR_DELIVERY, S.DELIVERED, S.COMPLETED),
}
RECENT_LIMIT = 5
# orders looked at to find the ones with the product the shopper named
PRODUCT_SEARCH_LIMIT = 20
GENERAL_REPLY = {
    "query": "utter_query_order",
    "delay": "utter_query_order",
    "change": "utter_change_order",
    "cancel": "utter_cancel_order",
}


def contains_any(text: str, words: Sequence[str]) -> bool:
    return any(w in text for w in words)


# ---- notes (O8/L5) ---------------------------------------------------------------------------


def note_kinds() -> Dict[str, List[str]]:
    """lexicon/subtopics.yml `order_note`: kind -> words, in the order they are checked."""
    return subtopics().get("order_note", {})


def note_words() -> List[str]:
    return [w for words in note_kinds().values() for w in words]


def change_words() -> List[str]:
    return subtopics().get("orders", {}).get("change", [])


def is_note(text: str) -> bool:
    """A wish to note on the order (O8/L5), not a change of it."""
    return contains_any(text, note_words()) and not contains_any(text, change_words())


def wants_note(tracker: Tracker) -> bool:
    """An order number and a wish for it in one message ("DD…的订单周末再送")."""
    return bool(order_ids_in(tracker)) and is_note(text_of(tracker))


# ---- order data as reply values ------------------------------------------------------


def order_values(order: Order) -> Dict[str, str]:
    """What a reply may show of the buyer's own order (personal data is masked by the backend)."""
    latest = order.latest_tracking
    place = order.ship_to.place if order.ship_to else None
    deadline = ship_deadline(order, store())
    values = {
        "order_id": order.order_id,
        "items": order.item_summary,
        "status_label": order.status.label_zh,
        "total": yuan_text(order.total),
        "courier": order.courier or store().default_courier,
        "tracking_no": order.tracking_no or "",
        "event_time": local_text(latest.at) if latest else "",
        "event_text": latest.text if latest else "",
        "station": (latest.station or latest.city) if latest else "",
        "signed_by": order.signed_by or "",
        "delivered_time": local_text(order.delivered_at or order.completed_at)
        if (order.delivered_at or order.completed_at)
        else "",
        "paid_time": local_text(order.paid_at) if order.paid_at else "",
        "ship_deadline": local_text(deadline) if deadline else "",
        "requested_time": local_text(order.refund_requested_at) if order.refund_requested_at else "",
        "refunded_time": local_text(order.refunded_at) if order.refunded_at else "",
        "transit": transit_estimate(store(), place).days,
    }
    return values


def order_ids_in(tracker: Tracker) -> List[str]:
    """Every order number the shopper typed in this message, canonical, in order."""
    found: List[str] = []
    text = normalize(tracker.latest_message.get("text") or "")
    for m in ORDER_ID_RE.finditer(text):
        found.append(m.group().upper())
    for e in tracker.latest_message.get("entities") or []:
        if e.get("entity") == "order_id" and e.get("value"):
            m = ORDER_ID_RE.fullmatch(normalize(str(e["value"])).strip())
            if m:
                found.append(m.group().upper())
    return list(dict.fromkeys(found))


def almost_order_id(tracker: Tracker) -> Optional[str]:
    text = normalize(tracker.latest_message.get("text") or "")
    for m in ALMOST_ORDER_ID_RE.finditer(text):
        if not PHONE_RE.fullmatch(m.group()):
            return m.group()
    return None


# ---- which order: from the message, the slot, or a list to pick from ------------------------


async def recent_orders(turn: Turn, purpose: str) -> List[Order]:
    statuses = PURPOSE_STATUSES.get(purpose)
    return await turn.call(lambda b: b.recent_orders(turn.buyer_id, limit=RECENT_LIMIT, statuses=statuses))


def order_buttons(orders: Sequence[Order]) -> List[Dict[str, str]]:
    return [{"title": " ".join((o.order_id, o.status.label_zh, o.item_summary)), "payload": o.order_id} for o in orders]


def remember_purpose(turn: Turn, purpose: str) -> None:
    """What the order list we are about to show is for (actions.common.PURPOSE_ACTION)."""
    pick = order_pick(turn.tracker)
    request = pick[1] if pick else (turn.tracker.latest_message.get("text") or "")
    turn.events += [SlotSet(ORDER_PURPOSE_SLOT, purpose), SlotSet(ORDER_REQUEST_SLOT, request)]


async def product_first(turn: Turn, purpose: str) -> List[Order]:
    """The buyer's recent orders for `purpose`; with a product named in the
    message ("数据线坏了"), the orders containing it come first."""
    category = latest_entity(turn.tracker, "product")
    if not category:
        return await recent_orders(turn, purpose)
    statuses = PURPOSE_STATUSES.get(purpose)
    orders = await turn.call(lambda b: b.recent_orders(turn.buyer_id, limit=PRODUCT_SEARCH_LIMIT, statuses=statuses))
    categories: Dict[str, Optional[str]] = {}
    for o in orders:
        for item in o.items:
            if item.product_id not in categories:
                product = await turn.call(lambda b, pid=item.product_id: b.get_product(pid))
                categories[item.product_id] = product.category if product else None

    def has_product(o: Order) -> bool:
        return any(categories.get(i.product_id) == category or category in i.name for i in o.items)

    with_product = [o for o in orders if has_product(o)]
    others = [o for o in orders if not has_product(o)]
    return (with_product + others)[:RECENT_LIMIT]


async def resolve_order(
    turn: Turn, purpose: str, *, allow_slot: bool = True, list_when_missing: bool = True
) -> Optional[Order]:
    """The buyer's order this message is about, or None after telling the
    shopper why not (not logged in, not their order, ask which one)."""
    if matches(turn.tracker, "orders", "not_own_account"):
        turn.say("utter_order_not_yours")
        return None
    ids = order_ids_in(turn.tracker)
    if len(ids) > 1:
        if not turn.buyer_id:
            turn.say("utter_login_required")
            return None
        turn.say("utter_which_order", count=str(len(ids)), buttons=[{"title": oid, "payload": oid} for oid in ids])
        remember_purpose(turn, purpose)
        return None
    if not ids:
        typed = almost_order_id(turn.tracker)
        if typed:
            turn.say("utter_order_id_invalid", typed=typed)
            return None
        slot = turn.tracker.get_slot("order_id") if allow_slot else None
        slot_id = ORDER_ID_RE.fullmatch(str(slot).strip()) if slot else None
        if slot_id:
            ids = [slot_id.group().upper()]
    if not turn.buyer_id:
        if not ids and purpose in GENERAL_REPLY:
            # the documented general answer first; the order itself needs a login
            turn.say(GENERAL_REPLY[purpose])
        turn.say("utter_login_required")
        return None
    if not ids:
        if list_when_missing:
            orders = await product_first(turn, purpose)
            if orders:
                turn.say("utter_recent_orders", buttons=order_buttons(orders))
                remember_purpose(turn, purpose)
            else:
                turn.say("utter_no_orders")
        return None
    order = await turn.call(lambda b: b.get_order(ids[0], buyer_id=turn.buyer_id))
    if order is None:
        turn.say("utter_order_not_found", order_id=ids[0])
        # forget a number that is not this buyer's, or the next question
        # ("我要退货") would be about it again
        turn.events.append(SlotSet("order_id", None))
        return None
    turn.events.append(SlotSet("order_id", order.order_id))
    return order


# ---- what several features answer with ---------------------------------------------------------


async def follow_up(turn: Turn, order: Order, topic: str) -> str:
    """A promise to come back on `order` within FOLLOW_UP_HOURS, recorded (F4); its due time as text."""
    due = due_in(FOLLOW_UP_HOURS)
    await turn.call(lambda b: record_promise(b, turn.tracker, topic, due, order.order_id))
    return local_text(due)


def offer_interception(turn: Turn, order: Order, response: str = "utter_change_after_shipment") -> None:
    turn.say(response, **order_values(order))
    turn.events += pending(Step.INTERCEPT, order.order_id)
