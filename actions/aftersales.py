"""After-sales (A1-A4): returns and refunds decided by shop.rules.return_eligibility.

Quality problem: apologise, ask what happened and for 1-2 photos, full
refund, the store pays both ways. Non-quality: inside the return window and
only if resale is unaffected, the buyer pays the return shipping. Outside
the window: explain and offer a person. A refund the buyer is entitled to is
never refused (A4): every eligible decision ends in an offer to file it.
"""

from __future__ import annotations

from typing import Dict, Optional, Text

from actions.common import matches, store
from actions.confirm import yes_in_other_words
from actions.order_lookup import almost_order_id, order_ids_in, order_values, resolve_order
from actions.steps import RETURNS, Step, carries_out, pending
from actions.turn import BackendAction, Turn, now
from shop.models import Order, ReturnReason
from shop.rules import ReturnDecision, return_eligibility
from shop.status import OrderStatus
from shop.timeutil import local_text
from xiaoer.phrases import phrases

S = OrderStatus


def is_quality(turn: Turn) -> bool:
    # the complaint keywords of lexicon/subtopics.yml name quality problems (坏了, 不充电 ...)
    return matches(turn.tracker, "complaint_category", str(phrases()["quality_category"]))


@carries_out(*RETURNS)
async def carry_out_return(
    turn: Turn, order: Order, step: Step, value: Optional[str] = None, values: Optional[Dict[str, str]] = None
) -> None:
    """File the return/refund the shopper just confirmed."""
    reason = ReturnReason.QUALITY if step is Step.RETURN_QUALITY else ReturnReason.NON_QUALITY
    description = turn.tracker.get_slot("pending_value") or turn.text
    await turn.call(
        lambda b: b.request_return(
            order.order_id,
            buyer_id=turn.buyer_id,
            reason=reason,
            description=description,
            conversation_id=turn.conversation,
        )
    )
    values = order_values(order)
    if step is Step.REFUND_ONLY:
        turn.say("utter_refund_requested", **values)
    elif step is Step.RETURN_QUALITY:
        turn.say("utter_return_requested_quality", **values)
    else:
        turn.say("utter_return_requested", **values)


# A4: refunds under way, newest first; how many a reply goes through at most
REFUNDING = (S.REFUND_REQUESTED, S.RETURNING)
REFUNDS_SHOWN = 3


async def refund_progress(turn: Turn) -> None:
    """A4 "退款什么时候到账": the buyer's refunds in progress from the shop
    backend (or the last one paid out), not the policy text."""
    if not turn.buyer_id:
        turn.say("utter_refund_timing")
        turn.say("utter_login_required")
        return
    running = await turn.call(lambda b: b.recent_orders(turn.buyer_id, limit=REFUNDS_SHOWN, statuses=REFUNDING))
    if running:
        for order in running:
            turn.say("utter_refund_progress", **order_values(order))
        return
    done = await turn.call(lambda b: b.recent_orders(turn.buyer_id, limit=1, statuses=(S.REFUNDED,)))
    if done:
        turn.say("utter_refund_done", **order_values(done[0]))
    else:
        turn.say("utter_no_refund_in_progress")


class ActionRequestReturn(BackendAction):
    """A3/A4 returns and refunds, and refund progress questions."""

    force_quality = False

    def name(self) -> Text:
        return "action_request_return"

    def general_reply(self, turn: Turn, quality: bool) -> None:
        turn.say("utter_quality_issue" if quality else "utter_return_policy")

    async def handle(self, turn: Turn) -> None:
        if await yes_in_other_words(turn, (*RETURNS, Step.INTERCEPT)):
            return
        quality = self.force_quality or is_quality(turn)
        purpose = "quality" if quality else "return"
        has_number = bool(order_ids_in(turn.tracker) or almost_order_id(turn.tracker))
        asks_progress = not quality and matches(turn.tracker, "orders", "refund_progress")
        if asks_progress and not has_number:
            await refund_progress(turn)
            return
        if not turn.buyer_id and not has_number:
            # a question about the policy: answered without a login
            self.general_reply(turn, quality)
            return
        if not has_number and turn.buyer_id and not turn.tracker.get_slot("order_id"):
            self.general_reply(turn, quality)
        order = await resolve_order(turn, purpose)
        if order is None:
            return
        if asks_progress and order.status not in (*REFUNDING, S.REFUNDED):
            turn.say("utter_order_no_refund", **order_values(order))
            return
        await self.answer(turn, order, quality)

    async def answer(self, turn: Turn, order: Order, quality: bool) -> None:
        values = order_values(order)
        st = order.status
        if st in (S.REFUND_REQUESTED, S.RETURNING):
            turn.say("utter_refund_progress", **values)
            return
        if st == S.REFUNDED:
            turn.say("utter_refund_done", **values)
            return
        resale_ok = quality or not matches(turn.tracker, "returns", "resale_affected")
        reason = ReturnReason.QUALITY if quality else ReturnReason.NON_QUALITY
        e = return_eligibility(order, reason, now=now(), store=store(), resale_ok=resale_ok)
        d = e.decision
        if d == ReturnDecision.REFUND_ONLY:
            turn.say("utter_return_refund_only", **values)
            turn.events += pending(Step.REFUND_ONLY, order.order_id)
        elif d == ReturnDecision.REFUSE_DELIVERY:
            turn.say("utter_return_in_transit", **values)
            turn.events += pending(Step.INTERCEPT, order.order_id)
        elif d == ReturnDecision.RETURN_AND_REFUND and quality:
            turn.say("utter_return_quality", **values)
            turn.events += pending(Step.RETURN_QUALITY, order.order_id, turn.text)
        elif d == ReturnDecision.RETURN_AND_REFUND:
            turn.say("utter_return_nonquality", days_left=str(e.days_left or 0), **values)
            turn.events += pending(Step.RETURN_NONQUALITY, order.order_id, turn.text)
        elif d == ReturnDecision.WARRANTY:
            turn.say("utter_return_warranty", warranty_end=local_text(e.warranty_ends_at), **values)
        elif d == ReturnDecision.OUT_OF_WINDOW:
            turn.say("utter_return_out_of_window", **values)
        elif d == ReturnDecision.RESALE_AFFECTED:
            turn.say("utter_return_resale_affected", **values)
        elif d == ReturnDecision.NOT_PAID:
            turn.say("utter_return_not_paid", **values)
        else:
            turn.say("utter_refund_finished", **values)


class ActionReportQualityIssue(ActionRequestReturn):
    """A2: a quality problem, whatever words the shopper used."""

    force_quality = True

    def name(self) -> Text:
        return "action_report_quality_issue"
