"""Orders (O1-O8): lookups, urging, delays, signed-not-received, changes,
cancellations, notes, and what a yes to each of their questions does.

Finding the order is actions.order_lookup; the turn over the backend is
actions.turn; the open yes/no question is actions.steps, answered by
actions.confirm. Replies are domain responses filled with the order's
(masked) data.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Text

from actions.address import address_from_value, address_to_value, masked_address_text, parse_address
from actions.aftersales import refund_progress
from actions.common import latest_entity, matches, order_pick, store
from actions.confirm import yes_in_other_words
from actions.order_lookup import (
    almost_order_id,
    contains_any,
    follow_up,
    is_note,
    note_kinds,
    offer_interception,
    order_ids_in,
    order_values,
    resolve_order,
    wants_note,
)
from actions.steps import CHANGES, Step, answers, carries_out, current_step, pending, remember
from actions.turn import BackendAction, Turn, now
from shop.masking import mask_phone
from shop.models import Order
from shop.rules import is_shipment_delayed, is_transit_stalled, stall_hours
from shop.status import SHIPPED_STATES, OrderStatus
from xiaoer.lexicon import PHONE_RE
from xiaoer.phrases import pattern
from xiaoer.text import normalize

S = OrderStatus
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


# ---- O1, O3, O4, O5: lookups -------------------------------------------------------------


class ActionLookUpOrder(BackendAction):
    """O1 status, courier, tracking and what happens next; O3 not shipped
    (urge recorded), O4 stalled parcel (courier follow-up + promise), O5
    signed but not received (ask who signed first)."""

    def name(self) -> Text:
        return "action_look_up_order"

    async def handle(self, turn: Turn) -> None:
        tracker = turn.tracker
        if wants_note(tracker):
            order = await resolve_order(turn, "change")
            if order is not None:
                await add_note(turn, order)
            return
        typed = bool(order_ids_in(tracker) or almost_order_id(tracker))
        if not typed and matches(tracker, "orders", "refund_progress"):
            await refund_progress(turn)
            return
        # O4: "物流几天没更新" is answered with an apology first, also when we
        # still have to ask which order it is
        delayed = matches(tracker, "orders", "delay")
        purpose = "delay" if delayed else "query"
        if delayed and not typed and not tracker.get_slot("order_id") and not order_pick(tracker):
            turn.say("utter_sorry_for_delay")
            delayed = False  # said once
        order = await resolve_order(turn, purpose)
        if order is None:
            return
        values = order_values(order)
        t = now()
        text = turn.text
        if order.status == S.PAID and is_shipment_delayed(order, t, store()):
            await turn.call(
                lambda b: b.record_urge(
                    order.order_id, buyer_id=turn.buyer_id, note=text, conversation_id=turn.conversation
                )
            )
            due = await follow_up(turn, order, "ship_overdue")
            # A6: the store is at fault, the configured coupon is owed (recorded, so someone issues it)
            await follow_up(turn, order, "compensation_coupon")
            turn.say("utter_order_ship_overdue", follow_up_time=due, **values)
        elif order.status == S.PAID and matches(tracker, "orders", "urge"):
            await turn.call(
                lambda b: b.record_urge(
                    order.order_id, buyer_id=turn.buyer_id, note=text, conversation_id=turn.conversation
                )
            )
            turn.say("utter_order_urge_recorded", **values)
        elif order.status in SHIPPED_STATES and is_transit_stalled(order, t, stall_hours(store())):
            await turn.call(
                lambda b: b.record_courier_follow_up(
                    order.order_id, buyer_id=turn.buyer_id, note=text, conversation_id=turn.conversation
                )
            )
            due = await follow_up(turn, order, "courier_follow_up")
            turn.say("utter_order_stalled", follow_up_time=due, **values)
        elif order.status in (S.DELIVERED, S.COMPLETED) and matches(tracker, "orders", "not_received"):
            turn.say("utter_ask_who_signed", **values)
            turn.events += pending(Step.INVESTIGATE, order.order_id)
        elif order.status in SHIPPED_STATES and order.latest_tracking is None:
            if delayed:
                turn.say("utter_sorry_for_delay")
            turn.say("utter_order_status_awaiting_pickup", **values)
        else:
            if delayed and order.status in (S.PAID, *SHIPPED_STATES):
                turn.say("utter_sorry_for_delay")
            turn.say(STATUS_RESPONSE[order.status], **values)


# ---- O6: changes, O8: notes ------------------------------------------------------------------


async def spec_change(turn: Turn, order: Order) -> Optional[Dict[str, Any]]:
    """The SKU the shopper wants instead of one in the order, or None after
    saying why not (no such variant, other price, sold out)."""
    color = latest_entity(turn.tracker, "color")
    size = latest_entity(turn.tracker, "size")
    if not (color or size):
        return None
    for item in order.items:
        product = await turn.call(lambda b, pid=item.product_id: b.get_product(pid))
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
        values = {"order_id": order.order_id, "product_name": item.name, "old_value": item.spec, "new_value": new.spec}
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
    product = await turn.call(lambda b, pid=item.product_id: b.get_product(pid))
    options = SEP.join(s.spec for s in product.skus if not s.sold_out) if product else item.spec
    turn.say(
        "utter_change_spec_unavailable",
        order_id=order.order_id,
        product_name=item.name,
        wanted=" ".join(p for p in (color, size) if p),
        options=options,
    )
    return {}


async def add_note(turn: Turn, order: Order) -> None:
    """O8/L5: a delivery-time wish, gift or courier request noted on the order, not guaranteed."""
    if order.status not in (S.UNPAID, S.PAID, *SHIPPED_STATES):
        turn.say("utter_change_not_possible", **order_values(order))
        return
    pick = order_pick(turn.tracker)
    raw = normalize(pick[1] if pick else (turn.tracker.latest_message.get("text") or ""))
    note = PHONE_RE.sub(lambda m: mask_phone(m.group()), pattern("order_ref").sub(" ", raw)).strip(" ,,。:")  # noqa: B005 - a set of characters
    note = " ".join(pattern("note_prefix").sub("", note).split()) or note
    kind = next((k for k, words in note_kinds().items() if contains_any(turn.text, words)), "other")
    await turn.call(
        lambda b: b.add_order_note(
            order.order_id, buyer_id=turn.buyer_id, kind=kind, text=note, conversation_id=turn.conversation
        )
    )
    turn.say("utter_order_note_added", order_id=order.order_id, note=note)
    turn.events += pending()


class ActionChangeOrder(BackendAction):
    """O6: before shipment, change the address, phone or spec after the
    shopper confirms; after shipment, offer interception -> refusal ->
    refund and reorder (seed 004)."""

    def name(self) -> Text:
        return "action_change_order"

    async def handle(self, turn: Turn) -> None:
        if await yes_in_other_words(turn, CHANGES):
            return
        text = turn.tracker.latest_message.get("text") or ""
        address = parse_address(text)
        phones = [p for p in PHONE_RE.findall(normalize(text))]
        order = await resolve_order(turn, "change")
        if order is None:
            if turn.buyer_id and (address or phones):
                # keep what they asked for until they pick the order
                if address:
                    turn.events += remember(Step.CHANGE_ADDRESS, address_to_value(address))
                else:
                    turn.events += remember(Step.CHANGE_PHONE, phones[0])
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
        earlier_step = current_step(turn.tracker)
        earlier_value = turn.tracker.get_slot("pending_value")
        if not address and not phones and earlier_step is Step.CHANGE_ADDRESS:
            address = address_from_value(earlier_value)
        if not address and not phones and earlier_step is Step.CHANGE_PHONE and earlier_value:
            phones = [earlier_value]
        if address:
            turn.say("utter_confirm_change_address", order_id=order.order_id, new_value=masked_address_text(address))
            turn.events += pending(Step.CHANGE_ADDRESS, order.order_id, address_to_value(address))
            return
        if phones:
            turn.say("utter_confirm_change_phone", order_id=order.order_id, new_value=mask_phone(phones[0]))
            turn.events += pending(Step.CHANGE_PHONE, order.order_id, phones[0])
            return
        spec = await spec_change(turn, order)
        if spec:
            turn.say("utter_confirm_change_spec", **{k: v for k, v in spec.items() if k != "sku_id"})
            turn.events += pending(Step.CHANGE_SPEC, order.order_id, spec["sku_id"])
            return
        if spec is not None:  # told the shopper why not
            return
        if matches(turn.tracker, "orders", "address"):
            turn.say("utter_ask_new_address")
            turn.events += pending(Step.ASK_ADDRESS, order.order_id)
            return
        turn.say("utter_ask_change_detail", **order_values(order))
        turn.events += pending(Step.ASK_DETAIL, order.order_id)


# ---- O7: cancel -------------------------------------------------------------------------------


class ActionCancelOrder(BackendAction):
    """O7: confirm first; unpaid -> cancel, paid -> refund request, shipped ->
    interception or refusal, delivered -> return. Nothing changes until the
    buyer says yes (seed 003: never close an order on our own)."""

    def name(self) -> Text:
        return "action_cancel_order"

    async def handle(self, turn: Turn) -> None:
        if await yes_in_other_words(turn, (Step.CANCEL, Step.INTERCEPT, Step.REFUND_ONLY)):
            return
        order = await resolve_order(turn, "cancel")
        if order is None:
            return
        values = order_values(order)
        if order.status == S.UNPAID:
            turn.say("utter_confirm_cancel_unpaid", **values)
            turn.events += pending(Step.CANCEL, order.order_id)
        elif order.status == S.PAID:
            turn.say("utter_confirm_cancel_paid", **values)
            turn.events += pending(Step.CANCEL, order.order_id)
        elif order.status in SHIPPED_STATES:
            offer_interception(turn, order, "utter_cancel_shipped")
        elif order.status in (S.DELIVERED, S.COMPLETED):
            turn.say("utter_cancel_delivered", **values)
            turn.events += pending()
        else:
            turn.say("utter_cancel_not_applicable", **values)
            turn.events += pending()


# ---- the yes/no answer ---------------------------------------------------------------------------


# ---- what each order question does when answered (actions.steps registry) ----------------------


@answers(Step.ASK_ADDRESS, Step.ASK_DETAIL)
async def take_new_address(
    turn: Turn, order: Order, step: Step, value: Optional[str], values: Dict[str, str], intent: Optional[str]
) -> bool:
    """ "新地址是?" answered with an address (also after "您想修改什么?")."""
    address = parse_address(turn.tracker.latest_message.get("text") or "")
    if step is Step.ASK_DETAIL and address is None:
        return False  # a yes or no to "您想修改什么?"
    if address is None:
        turn.say("utter_ask_new_address")
        return True
    turn.say("utter_confirm_change_address", order_id=order.order_id, new_value=masked_address_text(address))
    turn.events += pending(Step.CHANGE_ADDRESS, order.order_id, address_to_value(address))
    return True


@answers(Step.INVESTIGATE)
async def open_investigation(
    turn: Turn, order: Order, step: Step, value: Optional[str], values: Dict[str, str], intent: Optional[str]
) -> bool:
    """O5 "是家人代签吗?": whatever the answer, the courier is asked."""
    await turn.call(
        lambda b: b.open_courier_investigation(
            order.order_id, buyer_id=turn.buyer_id, note=turn.text, conversation_id=turn.conversation
        )
    )
    due = await follow_up(turn, order, "courier_investigation")
    response = "utter_investigation_opened_check_family" if intent == "affirm" else "utter_investigation_opened"
    turn.say(response, follow_up_time=due, **values)
    turn.events += pending()
    return True


@carries_out(Step.CANCEL)
async def cancel(turn: Turn, order: Order, step: Step, value: Optional[str], values: Dict[str, str]) -> None:
    outcome = await turn.call(
        lambda b: b.cancel_order(
            order.order_id, buyer_id=turn.buyer_id, reason=turn.text, conversation_id=turn.conversation
        )
    )
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


@carries_out(Step.INTERCEPT)
async def intercept(turn: Turn, order: Order, step: Step, value: Optional[str], values: Dict[str, str]) -> None:
    await turn.call(
        lambda b: b.request_interception(
            order.order_id, buyer_id=turn.buyer_id, reason=turn.text, conversation_id=turn.conversation
        )
    )
    due = await follow_up(turn, order, "interception")
    turn.say("utter_interception_requested", follow_up_time=due, **values)


@carries_out(Step.CHANGE_PHONE)
async def change_phone(turn: Turn, order: Order, step: Step, value: Optional[str], values: Dict[str, str]) -> None:
    await turn.call(
        lambda b: b.change_phone(order.order_id, buyer_id=turn.buyer_id, phone=value, conversation_id=turn.conversation)
    )
    turn.say("utter_order_changed", order_id=order.order_id, new_value=mask_phone(value))


@carries_out(Step.CHANGE_ADDRESS)
async def change_address(turn: Turn, order: Order, step: Step, value: Optional[str], values: Dict[str, str]) -> None:
    address = address_from_value(value or "")
    if address is None:
        turn.say("utter_ask_new_address")
        turn.events += pending(Step.ASK_ADDRESS, order.order_id)
        return
    await turn.call(
        lambda b: b.change_address(
            order.order_id, buyer_id=turn.buyer_id, address=address, conversation_id=turn.conversation
        )
    )
    turn.say("utter_order_changed", order_id=order.order_id, new_value=masked_address_text(address))


@carries_out(Step.CHANGE_SPEC)
async def change_spec(turn: Turn, order: Order, step: Step, value: Optional[str], values: Dict[str, str]) -> None:
    record = await turn.call(
        lambda b: b.change_spec(
            order.order_id, buyer_id=turn.buyer_id, new_sku_id=value, conversation_id=turn.conversation
        )
    )
    turn.say("utter_order_changed", order_id=order.order_id, new_value=record.data.get("to", ""))
