"""Orders (O1-O7): lookups, urging, delays, signed-not-received, changes,
cancellations, and the yes/no step that confirms them.

Who is asking comes only from the storefront session
(`tracker.latest_message["metadata"]["buyer_id"]`, see actions.records.buyer_id);
the backend answers every order question for that buyer only, and an order
of someone else reads exactly like an unknown number (seed 003: 只和拍下的账号
核对信息). Replies are domain responses filled with the order's (masked) data.
"""
from __future__ import annotations

import abc
import asyncio
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Awaitable, Callable, Dict, List, Optional, Sequence, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import (
    ORDER_PURPOSE_SLOT, ORDER_REQUEST_SLOT, latest_entity, matches, order_pick, store, subtopics, text_of,
)
from actions.records import buyer_id as session_buyer_id
from actions.records import get_backend
from shop.errors import BackendUnavailable, ChangeNotAllowed, NotFound, OrderNotFound, OutOfStock
from shop.masking import mask_address, mask_phone
from shop.models import AddressInput, Order, yuan_text
from shop.rules import is_shipment_delayed, is_transit_stalled, ship_deadline, stall_hours, transit_estimate
from shop.status import SHIPPED_STATES, OrderStatus
from shop.timeutil import local_text
from xiaoer.geo import province_for
from xiaoer.lexicon import ORDER_ID_RE, PHONE_RE
from xiaoer.text import normalize

S = OrderStatus

# G5: after this many seconds the shopper is told we are looking it up;
# after OVERALL_TIMEOUT the lookup counts as failed (apology + human queue).
WAIT_NOTICE_AFTER = 1.0
OVERALL_TIMEOUT = 5.0
# How soon the store promises to come back on a courier question (O4, O5,
# interception) or an overdue shipment (O3).
FOLLOW_UP_HOURS = 24

# Words that decide between documented replies (matched on normalised text).
# Data, like lexicon/subtopics.yml, kept here until that file gains an
# `orders:` group.
NOT_OWN_ACCOUNT = ("帮朋友", "朋友的订单", "朋友的单", "朋友买", "替朋友", "别人的订单", "别人的单", "帮别人", "替别人",
                   "别人帮我买", "新账号", "换了账号", "换了个账号", "换账号", "旧账号", "老账号", "之前的账号",
                   "以前的账号", "另一个账号", "别的账号", "重新注册", "新注册")
URGE_WORDS = ("催", "快点", "快些", "怎么还不", "还没发", "还不发", "什么时候发", "啥时候发", "加急", "着急", "急用",
              "赶紧", "尽快", "等了", "等好久")
NOT_RECEIVED_WORDS = ("没收到", "没有收到", "没拿到", "没有拿到", "没见到", "没看到", "没人签", "冒领", "不是我签",
                      "没签收", "丢了", "没有我的快递", "没收到货", "没到手")
# "帮我备注一下:" before the wish itself
NOTE_PREFIX_RE = re.compile(r"^(?:麻烦|请|亲)?(?:帮我|给我)?(?:在订单上)?备注(?:一下)?[::,,\s]*")
# the order number with the words that point at it ("订单号DD…的订单"), not part of the wish
ORDER_REF_RE = re.compile(r"(?:订单号?|单号)?[::\s]*(?:%s)\s*(?:的订单|这个订单|这一单|这单|的单|订单|的)?"
                          % ORDER_ID_RE.pattern)
ADDRESS_WORDS = ("地址", "收货人", "收件人", "省份", "小区", "门牌")
SPEC_WORDS = ("规格", "颜色", "型号", "尺寸", "长度", "容量", "款式")
# Text that tries to be an order number but is not one (too short/long).
ALMOST_ORDER_ID_RE = re.compile(r"(?<![A-Za-z0-9])(?:[Dd][Dd]\d{3,}|\d{12,15}|\d{20,})(?![A-Za-z0-9])")

# An order button shows the order and posts only its number: the shopper's
# bubble (and the agents' transcript) reads "DD20241101001", the number printed
# on the button they pressed, never words they did not type. What the list was
# for is kept in the order_purpose / order_request slots by the action that
# listed it; a bare number in the next message continues that request
# (actions.common.order_pick), whatever intent the NLU gives the number.
PURPOSE_ACTION = {"query": "action_look_up_order", "delay": "action_look_up_order", "change": "action_change_order",
                  "cancel": "action_cancel_order", "return": "action_request_return",
                  "quality": "action_report_quality_issue"}
PURPOSE_STATUSES = {
    # "我的订单到哪了": the orders still on their way or being handled; a cancelled or closed
    # order is looked up only when its number is typed
    "query": tuple(s for s in S if s not in (S.CANCELLED, S.CLOSED)),
    # O4 "物流几天没更新": only orders on their way (or waiting to ship) can be late
    "delay": (S.PAID, S.SHIPPED, S.IN_TRANSIT, S.OUT_FOR_DELIVERY),
    "change": (S.UNPAID, S.PAID, S.SHIPPED, S.IN_TRANSIT, S.OUT_FOR_DELIVERY),
    "cancel": (S.UNPAID, S.PAID, S.SHIPPED, S.IN_TRANSIT, S.OUT_FOR_DELIVERY),
    "return": (S.PAID, S.SHIPPED, S.IN_TRANSIT, S.OUT_FOR_DELIVERY, S.DELIVERED, S.COMPLETED, S.REFUND_REQUESTED,
               S.RETURNING, S.REFUNDED),
    "quality": (S.SHIPPED, S.IN_TRANSIT, S.OUT_FOR_DELIVERY, S.DELIVERED, S.COMPLETED),
}
RECENT_LIMIT = 5
# orders looked at to find the ones with the product the shopper named
PRODUCT_SEARCH_LIMIT = 20
GENERAL_REPLY = {"query": "utter_query_order", "delay": "utter_query_order", "change": "utter_change_order",
                 "cancel": "utter_cancel_order"}
SEP = "、"  # list separator in replies

STATUS_RESPONSE = {
    S.UNPAID: "utter_order_status_unpaid",
    S.PAID: "utter_order_status_paid",
    S.SHIPPED: "utter_order_status_shipped",
    S.IN_TRANSIT: "utter_order_status_in_transit",
    S.OUT_FOR_DELIVERY: "utter_order_status_out_for_delivery",
    S.DELIVERED: "utter_order_status_delivered",
    S.COMPLETED: "utter_order_status_completed",
    S.CANCELLED: "utter_order_status_cancelled",
    S.CLOSED: "utter_order_status_closed",
    S.REFUND_REQUESTED: "utter_order_status_refund_requested",
    S.RETURNING: "utter_order_status_returning",
    S.REFUNDED: "utter_order_status_refunded",
}


def now() -> datetime:
    return datetime.now(timezone.utc)


def contains_any(text: str, words: Sequence[str]) -> bool:
    return any(w in text for w in words)


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


class Unavailable(Exception):
    """The shop backend is down or too slow: apologise and offer a person."""


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
        "delivered_time": local_text(order.delivered_at or order.completed_at) if (
            order.delivered_at or order.completed_at) else "",
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


def pending(step: Optional[str] = None, order_id: Optional[str] = None, value: Optional[str] = None) -> List[Dict]:
    """Open (or, without a step, close) the yes/no question about an order."""
    return [SlotSet("awaiting_order_answer", step is not None), SlotSet("pending_step", step),
            SlotSet("pending_order", order_id if step else None), SlotSet("pending_value", value if step else None)]


# ---- one conversation turn over the backend ---------------------------------------------


@dataclass
class Turn:
    dispatcher: CollectingDispatcher
    tracker: Tracker
    buyer_id: Optional[str]
    events: List[Dict] = field(default_factory=list)
    waited: bool = False

    @property
    def text(self) -> str:
        return text_of(self.tracker)

    def say(self, response: str, **values: Any) -> None:
        self.dispatcher.utter_message(response=response, **values)

    async def call(self, make_call: Callable[[Any], Awaitable[Any]]) -> Any:
        """Run one backend call; past WAIT_NOTICE_AFTER the shopper hears
        "我立即为您查询,请您稍等" (G5), past OVERALL_TIMEOUT it counts as down."""
        try:
            try:
                backend = await asyncio.wait_for(get_backend(), OVERALL_TIMEOUT)
            except Exception as exc:  # cannot even connect: same answer as a failing call
                raise BackendUnavailable(str(exc)) from exc
            task = asyncio.ensure_future(make_call(backend))
            try:
                return await asyncio.wait_for(asyncio.shield(task), WAIT_NOTICE_AFTER)
            except asyncio.TimeoutError:
                if not self.waited:
                    self.waited = True
                    self.say("utter_please_wait")
                try:
                    result = await asyncio.wait_for(task, max(0.0, OVERALL_TIMEOUT - WAIT_NOTICE_AFTER))
                except asyncio.TimeoutError:
                    raise Unavailable() from None
                self.say("utter_thanks_for_waiting")
                return result
        except (BackendUnavailable, OSError) as exc:
            raise Unavailable() from exc
        except asyncio.TimeoutError as exc:
            raise Unavailable() from exc

    @property
    def conversation(self) -> str:
        return self.tracker.sender_id

    async def recent(self, purpose: str) -> List[Order]:
        statuses = PURPOSE_STATUSES.get(purpose)
        return await self.call(lambda b: b.recent_orders(self.buyer_id, limit=RECENT_LIMIT, statuses=statuses))

    def buttons_for(self, orders: Sequence[Order]) -> List[Dict[str, str]]:
        return [{"title": " ".join((o.order_id, o.status.label_zh, o.item_summary)), "payload": o.order_id}
                for o in orders]

    def remember_purpose(self, purpose: str) -> None:
        """What the order list we are about to show is for (see PURPOSE_ACTION)."""
        pick = order_pick(self.tracker)
        request = pick[1] if pick else (self.tracker.latest_message.get("text") or "")
        self.events += [SlotSet(ORDER_PURPOSE_SLOT, purpose), SlotSet(ORDER_REQUEST_SLOT, request)]

    async def product_first(self, purpose: str) -> List[Order]:
        """The buyer's recent orders for `purpose`; with a product named in the
        message ("数据线坏了"), the orders containing it come first."""
        category = latest_entity(self.tracker, "product")
        if not category:
            return await self.recent(purpose)
        statuses = PURPOSE_STATUSES.get(purpose)
        orders = await self.call(lambda b: b.recent_orders(self.buyer_id, limit=PRODUCT_SEARCH_LIMIT,
                                                           statuses=statuses))
        categories: Dict[str, Optional[str]] = {}
        for o in orders:
            for item in o.items:
                if item.product_id not in categories:
                    product = await self.call(lambda b: b.get_product(item.product_id))
                    categories[item.product_id] = product.category if product else None

        def has_product(o: Order) -> bool:
            return any(categories.get(i.product_id) == category or category in i.name for i in o.items)

        with_product = [o for o in orders if has_product(o)]
        others = [o for o in orders if not has_product(o)]
        return (with_product + others)[:RECENT_LIMIT]

    async def resolve(self, purpose: str, *, allow_slot: bool = True, list_when_missing: bool = True
                      ) -> Optional[Order]:
        """The buyer's order this message is about, or None after telling the
        shopper why not (not logged in, not their order, ask which one)."""
        if contains_any(self.text, NOT_OWN_ACCOUNT):
            self.say("utter_order_not_yours")
            return None
        ids = order_ids_in(self.tracker)
        if len(ids) > 1:
            if not self.buyer_id:
                self.say("utter_login_required")
                return None
            self.say("utter_which_order", count=str(len(ids)),
                     buttons=[{"title": oid, "payload": oid} for oid in ids])
            self.remember_purpose(purpose)
            return None
        if not ids:
            typed = almost_order_id(self.tracker)
            if typed:
                self.say("utter_order_id_invalid", typed=typed)
                return None
            slot = self.tracker.get_slot("order_id") if allow_slot else None
            slot_id = ORDER_ID_RE.fullmatch(str(slot).strip()) if slot else None
            if slot_id:
                ids = [slot_id.group().upper()]
        if not self.buyer_id:
            if not ids and purpose in GENERAL_REPLY:
                # the documented general answer first; the order itself needs a login
                self.say(GENERAL_REPLY[purpose])
            self.say("utter_login_required")
            return None
        if not ids:
            if list_when_missing:
                orders = await self.product_first(purpose)
                if orders:
                    self.say("utter_recent_orders", buttons=self.buttons_for(orders))
                    self.remember_purpose(purpose)
                else:
                    self.say("utter_no_orders")
            return None
        order = await self.call(lambda b: b.get_order(ids[0], buyer_id=self.buyer_id))
        if order is None:
            self.say("utter_order_not_found", order_id=ids[0])
            # forget a number that is not this buyer's, or the next question
            # ("我要退货") would be about it again
            self.events.append(SlotSet("order_id", None))
            return None
        self.events.append(SlotSet("order_id", order.order_id))
        return order


async def run_turn(dispatcher: CollectingDispatcher, tracker: Tracker,
                   handle: Callable[[Turn], Awaitable[None]]) -> List[Dict]:
    """Run `handle` for one turn; a backend that is down or slow gets the
    apology and the human-queue offer, never silence."""
    turn = Turn(dispatcher, tracker, session_buyer_id(tracker))
    try:
        await handle(turn)
    except Unavailable:
        turn.say("utter_backend_unavailable")
        return turn.events + pending()
    except OrderNotFound as exc:
        # the order vanished from this buyer between two steps: same reply as an unknown number
        turn.say("utter_order_not_found", order_id=exc.order_id)
        return turn.events + pending()
    return turn.events


class OrderAction(Action, metaclass=abc.ABCMeta):
    """An action that talks to the shop backend (see run_turn)."""

    @abc.abstractmethod
    async def handle(self, turn: Turn) -> None:
        """Answer one turn."""

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[Dict]:
        target = picked_order_action(tracker)
        if target and target != self.name() and self.name() in PURPOSE_ACTION.values():
            # an order picked from our list continues the request it was listed for
            return [FollowupAction(target)]
        return await run_turn(dispatcher, tracker, self.handle)


def picked_order_action(tracker: Tracker) -> Optional[str]:
    """The action that continues the request an order list was shown for, when
    this message is only an order number picked from it."""
    pick = order_pick(tracker)
    return PURPOSE_ACTION.get(pick[0]) if pick else None


# ---- O1, O3, O4, O5: lookups -------------------------------------------------------------


async def follow_up(turn: Turn, order: Order, topic: str) -> str:
    due = now() + timedelta(hours=FOLLOW_UP_HOURS)
    await turn.call(lambda b: b.promise_follow_up(buyer_id=turn.buyer_id, topic=topic, due_at=due,
                                                  order_id=order.order_id, conversation_id=turn.conversation))
    return local_text(due)


class ActionLookUpOrder(OrderAction):
    """O1 status, courier, tracking and what happens next; O3 not shipped
    (urge recorded), O4 stalled parcel (courier follow-up + promise), O5
    signed but not received (ask who signed first)."""

    def name(self) -> Text:
        return "action_look_up_order"

    async def handle(self, turn: Turn) -> None:
        tracker = turn.tracker
        if wants_note(tracker):
            order = await turn.resolve("change")
            if order is not None:
                await add_note(turn, order)
            return
        typed = bool(order_ids_in(tracker) or almost_order_id(tracker))
        if not typed and matches(tracker, "orders", "refund_progress"):
            from actions.aftersales import refund_progress  # one place for refunds

            await refund_progress(turn)
            return
        # O4: "物流几天没更新" is answered with an apology first, also when we
        # still have to ask which order it is
        delayed = matches(tracker, "orders", "delay")
        purpose = "delay" if delayed else "query"
        if delayed and not typed and not tracker.get_slot("order_id") and not order_pick(tracker):
            turn.say("utter_sorry_for_delay")
            delayed = False  # said once
        order = await turn.resolve(purpose)
        if order is None:
            return
        values = order_values(order)
        t = now()
        text = turn.text
        if order.status == S.PAID and is_shipment_delayed(order, t, store()):
            await turn.call(lambda b: b.record_urge(order.order_id, buyer_id=turn.buyer_id, note=text,
                                                    conversation_id=turn.conversation))
            due = await follow_up(turn, order, "ship_overdue")
            # A6: the store is at fault, the configured coupon is owed (recorded, so someone issues it)
            await follow_up(turn, order, "compensation_coupon")
            turn.say("utter_order_ship_overdue", follow_up_time=due, **values)
        elif order.status == S.PAID and contains_any(text, URGE_WORDS):
            await turn.call(lambda b: b.record_urge(order.order_id, buyer_id=turn.buyer_id, note=text,
                                                    conversation_id=turn.conversation))
            turn.say("utter_order_urge_recorded", **values)
        elif order.status in SHIPPED_STATES and is_transit_stalled(order, t, stall_hours(store())):
            await turn.call(lambda b: b.record_courier_follow_up(order.order_id, buyer_id=turn.buyer_id, note=text,
                                                                 conversation_id=turn.conversation))
            due = await follow_up(turn, order, "courier_follow_up")
            turn.say("utter_order_stalled", follow_up_time=due, **values)
        elif order.status in (S.DELIVERED, S.COMPLETED) and contains_any(text, NOT_RECEIVED_WORDS):
            turn.say("utter_ask_who_signed", **values)
            turn.events += pending("investigate", order.order_id)
        elif order.status in SHIPPED_STATES and order.latest_tracking is None:
            if delayed:
                turn.say("utter_sorry_for_delay")
            turn.say("utter_order_status_awaiting_pickup", **values)
        else:
            if delayed and order.status in (S.PAID, *SHIPPED_STATES):
                turn.say("utter_sorry_for_delay")
            turn.say(STATUS_RESPONSE[order.status], **values)


# ---- O6: changes ----------------------------------------------------------------------------


ADDRESS_RE = re.compile(
    r"(?P<name>[\u4e00-\u9fa5]{2,4})[\s,,:;;]*(?P<phone>1[3-9]\d{9})[\s,,:;;]*(?P<addr>\S.{5,})")
ADDRESS_RE_PHONE_FIRST = re.compile(
    r"(?P<phone>1[3-9]\d{9})[\s,,:;;]*(?P<name>[\u4e00-\u9fa5]{2,4})[\s,,:;;]+(?P<addr>\S.{5,})")
REGION_RE = re.compile(
    r"^(?P<prov>北京市?|天津市?|上海市?|重庆市?|[\u4e00-\u9fa5]{2,3}?省|[\u4e00-\u9fa5]{2,7}?自治区)?"
    r"(?P<city>[\u4e00-\u9fa5]{2,8}?(?:市|自治州|州|盟|地区))?"
    r"(?P<dist>[\u4e00-\u9fa5]{1,8}?(?:区|县|旗|市))?(?P<detail>.*)$")


def parse_address(text: str) -> Optional[AddressInput]:
    """'张三 13800001234 浙江省杭州市西湖区文三路1号' -> AddressInput, else None."""
    text = normalize(text).strip()
    m = ADDRESS_RE.search(text) or ADDRESS_RE_PHONE_FIRST.search(text)
    if not m:
        return None
    addr = m.group("addr").strip(" ,,。")
    province = province_for(addr)
    r = REGION_RE.match(addr)
    if not province or not r or len(r.group("detail").strip()) < 2:
        return None
    prov = r.group("prov") or province
    city = r.group("city") or prov
    return AddressInput(recipient=m.group("name"), phone=m.group("phone"), province=prov, city=city,
                        district=r.group("dist") or "", detail=r.group("detail").strip())


def address_to_value(a: AddressInput) -> str:
    return "|".join((a.recipient, a.phone, a.province, a.city, a.district, a.detail))


def address_from_value(value: str) -> Optional[AddressInput]:
    parts = (value or "").split("|")
    return AddressInput(*parts) if len(parts) == 6 else None


def masked_address_text(a: AddressInput) -> str:
    return " ".join((mask_address(a), mask_phone(a.phone)))


async def spec_change(turn: Turn, order: Order) -> Optional[Dict[str, Any]]:
    """The SKU the shopper wants instead of one in the order, or None after
    saying why not (no such variant, other price, sold out)."""
    color = latest_entity(turn.tracker, "color")
    size = latest_entity(turn.tracker, "size")
    if not (color or size):
        return None
    for item in order.items:
        product = await turn.call(lambda b: b.get_product(item.product_id))
        if product is None:
            continue
        current = product.sku(item.sku_id)
        candidates = [s for s in product.matching_skus(color, size) if s.sku_id != item.sku_id]
        if current is not None and len(candidates) > 1:
            # "改成黑色" keeps the length, "改成2米" keeps the colour
            keep = [s for s in candidates if (color or s.color == current.color) and (size or s.size == current.size)]
            candidates = keep or candidates
        if not candidates:
            continue
        new = candidates[0]
        values = {"order_id": order.order_id, "product_name": item.name, "old_value": item.spec,
                  "new_value": new.spec}
        if current is not None and new.price != current.price:
            turn.say("utter_change_spec_price_differs", **values)
            return {}
        if new.sold_out:
            if new.restock_date:
                turn.say("utter_change_spec_sold_out", restock_date=new.restock_date.isoformat(), **values)
            else:
                turn.say("utter_change_spec_sold_out_no_date", **values)
            return {}
        return {"sku_id": new.sku_id, **values}
    item = order.items[0]
    product = await turn.call(lambda b: b.get_product(item.product_id))
    options = SEP.join(s.spec for s in product.skus if not s.sold_out) if product else item.spec
    turn.say("utter_change_spec_unavailable", order_id=order.order_id, product_name=item.name,
             wanted=" ".join(p for p in (color, size) if p), options=options)
    return {}


async def add_note(turn: Turn, order: Order) -> None:
    """O8/L5: a delivery-time wish, gift or courier request noted on the order, not guaranteed."""
    if order.status not in (S.UNPAID, S.PAID, *SHIPPED_STATES):
        turn.say("utter_change_not_possible", **order_values(order))
        return
    pick = order_pick(turn.tracker)
    raw = normalize(pick[1] if pick else (turn.tracker.latest_message.get("text") or ""))
    note = PHONE_RE.sub(lambda m: mask_phone(m.group()), ORDER_REF_RE.sub(" ", raw)).strip(" ,,。:")
    note = " ".join(NOTE_PREFIX_RE.sub("", note).split()) or note
    kind = next((k for k, words in note_kinds().items() if contains_any(turn.text, words)), "other")
    await turn.call(lambda b: b.add_order_note(order.order_id, buyer_id=turn.buyer_id, kind=kind, text=note,
                                               conversation_id=turn.conversation))
    turn.say("utter_order_note_added", order_id=order.order_id, note=note)
    turn.events += pending()


def offer_interception(turn: Turn, order: Order, response: str = "utter_change_after_shipment") -> None:
    turn.say(response, **order_values(order))
    turn.events += pending("intercept", order.order_id)


class ActionChangeOrder(OrderAction):
    """O6: before shipment, change the address, phone or spec after the
    shopper confirms; after shipment, offer interception -> refusal ->
    refund and reorder (seed 004)."""

    def name(self) -> Text:
        return "action_change_order"

    async def handle(self, turn: Turn) -> None:
        if await yes_in_other_words(turn, ("change_phone", "change_address", "change_spec", "intercept")):
            return
        text = turn.tracker.latest_message.get("text") or ""
        address = parse_address(text)
        phones = [p for p in PHONE_RE.findall(normalize(text))]
        order = await turn.resolve("change")
        if order is None:
            if turn.buyer_id and (address or phones):
                # keep what they asked for until they pick the order
                if address:
                    turn.events += [SlotSet("pending_step", "change_address"),
                                    SlotSet("pending_value", address_to_value(address))]
                else:
                    turn.events += [SlotSet("pending_step", "change_phone"), SlotSet("pending_value", phones[0])]
            return
        if is_note(turn.text):
            await add_note(turn, order)
            return
        if order.status in SHIPPED_STATES:
            offer_interception(turn, order)
            return
        if order.status not in (S.UNPAID, S.PAID):
            turn.say("utter_change_not_possible", **order_values(order))
            turn.events += pending()
            return
        earlier_step = turn.tracker.get_slot("pending_step")
        earlier_value = turn.tracker.get_slot("pending_value")
        if not address and not phones and earlier_step == "change_address":
            address = address_from_value(earlier_value)
        if not address and not phones and earlier_step == "change_phone" and earlier_value:
            phones = [earlier_value]
        if address:
            turn.say("utter_confirm_change_address", order_id=order.order_id, new_value=masked_address_text(address))
            turn.events += pending("change_address", order.order_id, address_to_value(address))
            return
        if phones:
            turn.say("utter_confirm_change_phone", order_id=order.order_id, new_value=mask_phone(phones[0]))
            turn.events += pending("change_phone", order.order_id, phones[0])
            return
        spec = await spec_change(turn, order)
        if spec:
            turn.say("utter_confirm_change_spec", **{k: v for k, v in spec.items() if k != "sku_id"})
            turn.events += pending("change_spec", order.order_id, spec["sku_id"])
            return
        if spec is not None:  # told the shopper why not
            return
        if contains_any(turn.text, ADDRESS_WORDS):
            turn.say("utter_ask_new_address")
            turn.events += pending("ask_address", order.order_id)
            return
        turn.say("utter_ask_change_detail", **order_values(order))
        turn.events += pending("ask_detail", order.order_id)


# ---- O7: cancel -------------------------------------------------------------------------------


class ActionCancelOrder(OrderAction):
    """O7: confirm first; unpaid -> cancel, paid -> refund request, shipped ->
    interception or refusal, delivered -> return. Nothing changes until the
    buyer says yes (seed 003: never close an order on our own)."""

    def name(self) -> Text:
        return "action_cancel_order"

    async def handle(self, turn: Turn) -> None:
        if await yes_in_other_words(turn, ("cancel", "intercept", "refund_only")):
            return
        order = await turn.resolve("cancel")
        if order is None:
            return
        values = order_values(order)
        if order.status == S.UNPAID:
            turn.say("utter_confirm_cancel_unpaid", **values)
            turn.events += pending("cancel", order.order_id)
        elif order.status == S.PAID:
            turn.say("utter_confirm_cancel_paid", **values)
            turn.events += pending("cancel", order.order_id)
        elif order.status in SHIPPED_STATES:
            offer_interception(turn, order, "utter_cancel_shipped")
        elif order.status in (S.DELIVERED, S.COMPLETED):
            turn.say("utter_cancel_delivered", **values)
            turn.events += pending()
        else:
            turn.say("utter_cancel_not_applicable", **values)
            turn.events += pending()


# ---- the yes/no answer ---------------------------------------------------------------------------


def asked_just_now(tracker: Tracker) -> bool:
    """Was the open question asked in the bot's last turn? A yes several
    turns later (after talking about something else) must not cancel or
    change anything."""
    users = 0
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            users += 1
            if users == 2:
                return False
        elif users == 1 and event.get("event") == "slot" and event.get("name") == "awaiting_order_answer":
            return bool(event.get("value"))
    return False


async def yes_in_other_words(turn: Turn, steps: Sequence[str]) -> bool:
    """"确定取消", "好的帮我改吧", "帮我拦截" right after our question about
    one of `steps` is a yes, even though the NLU files it under the topic's
    intent; handled as one. True when answered."""
    tracker = turn.tracker
    if not (tracker.get_slot("awaiting_order_answer") and tracker.get_slot("pending_step") in steps
            and asked_just_now(tracker)) or order_ids_in(tracker) or PHONE_RE.search(normalize(turn.text)):
        return False
    if latest_entity(tracker, "color") or latest_entity(tracker, "size") or parse_address(turn.text):
        return False
    await ActionConfirmOrderStep().handle(turn, intent="affirm")
    return True


class ActionConfirmOrderStep(OrderAction):
    """The shopper's answer to the open question about an order: only now is
    the order changed, cancelled, intercepted, returned or investigated."""

    def name(self) -> Text:
        return "action_confirm_order_step"

    async def handle(self, turn: Turn, intent: Optional[str] = None) -> None:
        tracker = turn.tracker
        step = tracker.get_slot("pending_step")
        order_id = tracker.get_slot("pending_order")
        value = tracker.get_slot("pending_value")
        intent = intent or (tracker.latest_message.get("intent") or {}).get("name")
        if not step or not order_id or not asked_just_now(tracker):
            turn.say("utter_ok_anything_else")
            turn.events += pending()
            return
        if not turn.buyer_id:
            turn.say("utter_login_required")
            turn.events += pending()
            return
        order = await turn.call(lambda b: b.get_order(order_id, buyer_id=turn.buyer_id))
        if order is None:
            turn.say("utter_order_not_found", order_id=order_id)
            turn.events += pending()
            return
        values = order_values(order)
        if step == "ask_address" or (step == "ask_detail" and parse_address(tracker.latest_message.get("text") or "")):
            address = parse_address(tracker.latest_message.get("text") or "")
            if address is None:
                turn.say("utter_ask_new_address")
                return
            turn.say("utter_confirm_change_address", order_id=order_id, new_value=masked_address_text(address))
            turn.events += pending("change_address", order_id, address_to_value(address))
            return
        if step == "investigate":
            await turn.call(lambda b: b.open_courier_investigation(
                order_id, buyer_id=turn.buyer_id, note=turn.text, conversation_id=turn.conversation))
            due = await follow_up(turn, order, "courier_investigation")
            response = "utter_investigation_opened_check_family" if intent == "affirm" else "utter_investigation_opened"
            turn.say(response, follow_up_time=due, **values)
            turn.events += pending()
            return
        if intent != "affirm":
            turn.say("utter_step_dropped", order_id=order_id)
            turn.events += pending()
            return
        turn.events += pending()
        await self.carry_out(turn, order, step, value, values)

    async def carry_out(self, turn: Turn, order: Order, step: str, value: Optional[str],
                        values: Dict[str, str]) -> None:
        oid, buyer, conv = order.order_id, turn.buyer_id, turn.conversation
        from actions.aftersales import carry_out_return  # one place for returns

        try:
            if step == "cancel":
                outcome = await turn.call(lambda b: b.cancel_order(oid, buyer_id=buyer, reason=turn.text,
                                                                   conversation_id=conv))
                if outcome.kind == "cancelled":
                    turn.say("utter_order_cancelled", **values)
                elif outcome.kind == "refund_requested":
                    turn.say("utter_cancel_refund_requested", **order_values(outcome.order))
                elif outcome.kind == "intercept_or_return":
                    offer_interception(turn, outcome.order, "utter_cancel_shipped")
                elif outcome.kind == "return":
                    turn.say("utter_cancel_delivered", **values)
                else:
                    turn.say("utter_cancel_not_applicable", **order_values(outcome.order))
            elif step == "intercept":
                await turn.call(lambda b: b.request_interception(oid, buyer_id=buyer, reason=turn.text,
                                                                 conversation_id=conv))
                due = await follow_up(turn, order, "interception")
                turn.say("utter_interception_requested", follow_up_time=due, **values)
            elif step == "change_phone":
                await turn.call(lambda b: b.change_phone(oid, buyer_id=buyer, phone=value, conversation_id=conv))
                turn.say("utter_order_changed", order_id=oid, new_value=mask_phone(value))
            elif step == "change_address":
                address = address_from_value(value or "")
                if address is None:
                    turn.say("utter_ask_new_address")
                    turn.events += pending("ask_address", oid)
                    return
                await turn.call(lambda b: b.change_address(oid, buyer_id=buyer, address=address,
                                                           conversation_id=conv))
                turn.say("utter_order_changed", order_id=oid, new_value=masked_address_text(address))
            elif step == "change_spec":
                record = await turn.call(lambda b: b.change_spec(oid, buyer_id=buyer, new_sku_id=value,
                                                                 conversation_id=conv))
                turn.say("utter_order_changed", order_id=oid, new_value=record.data.get("to", ""))
            elif step in ("return_quality", "return_nonquality", "refund_only"):
                await carry_out_return(turn, order, step)
            else:
                turn.say("utter_ok_anything_else")
        except ChangeNotAllowed:
            fresh = await turn.call(lambda b: b.get_order(oid, buyer_id=buyer))
            if fresh is not None and fresh.status in SHIPPED_STATES:
                offer_interception(turn, fresh)
            else:
                turn.say("utter_change_not_possible", **order_values(fresh or order))
        except OutOfStock as exc:
            sku = await turn.call(lambda b: b.get_sku(value or ""))
            sku_values = {"new_value": sku.spec if sku else ""}
            if exc.restock_date:
                turn.say("utter_change_spec_sold_out", restock_date=str(exc.restock_date), **sku_values)
            else:
                turn.say("utter_change_spec_sold_out_no_date", **sku_values)
        except (ValueError, NotFound):
            turn.say("utter_change_not_possible", **values)
