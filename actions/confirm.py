"""The shopper's answer to the open yes/no question about an order (O5-O7,
A2-A4): only now is the order changed, cancelled, intercepted, returned or
investigated. What each step does is registered in actions.steps by the
feature that asks it."""

from __future__ import annotations

from typing import Dict, Optional, Sequence, Text

from actions.address import parse_address
from actions.common import latest_entity
from actions.order_lookup import offer_interception, order_ids_in, order_values
from actions.steps import AWAITING_SLOT, ORDER_SLOT, STEP_SLOT, VALUE_SLOT, Step, asked_just_now, handler_for, pending
from actions.turn import BackendAction, Turn
from shop.errors import ChangeNotAllowed, NotFound, OutOfStock
from shop.models import Order
from shop.status import SHIPPED_STATES
from xiaoer.lexicon import PHONE_RE
from xiaoer.text import normalize

AFFIRM = "affirm"


async def yes_in_other_words(turn: Turn, steps: Sequence[Step]) -> bool:
    """ "确定取消", "好的帮我改吧", "帮我拦截" right after our question about
    one of `steps` is a yes, even though the NLU files it under the topic's
    intent; handled as one. True when answered."""
    tracker = turn.tracker
    if (
        not (
            tracker.get_slot(AWAITING_SLOT)
            and Step.of(tracker.get_slot(STEP_SLOT)) in steps
            and asked_just_now(tracker)
        )
        or order_ids_in(tracker)
        or PHONE_RE.search(normalize(turn.text))
    ):
        return False
    if latest_entity(tracker, "color") or latest_entity(tracker, "size") or parse_address(turn.text):
        return False
    await answer(turn, intent=AFFIRM)
    return True


async def answer(turn: Turn, intent: Optional[str] = None) -> None:
    tracker = turn.tracker
    raw_step = tracker.get_slot(STEP_SLOT)
    step = Step.of(raw_step)
    order_id = tracker.get_slot(ORDER_SLOT)
    value = tracker.get_slot(VALUE_SLOT)
    intent = intent or (tracker.latest_message.get("intent") or {}).get("name")
    if not raw_step or not order_id or not asked_just_now(tracker):
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
    handler = handler_for(step)
    if handler.answer is not None and await handler.answer(turn, order, step, value, values, intent):
        return
    if intent != AFFIRM:
        turn.say("utter_step_dropped", order_id=order_id)
        turn.events += pending()
        return
    turn.events += pending()
    if handler.carry_out is None:
        turn.say("utter_ok_anything_else")
        return
    await carry_out(turn, order, step, value, values)


async def carry_out(turn: Turn, order: Order, step: Step, value: Optional[str], values: Dict[str, str]) -> None:
    """Run what the yes confirmed; a backend that refuses gets the reason."""
    oid, buyer = order.order_id, turn.buyer_id
    try:
        await handler_for(step).carry_out(turn, order, step, value, values)
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


class ActionConfirmOrderStep(BackendAction):
    """The shopper's answer to the open question about an order."""

    def name(self) -> Text:
        return "action_confirm_order_step"

    async def handle(self, turn: Turn) -> None:
        await answer(turn)
