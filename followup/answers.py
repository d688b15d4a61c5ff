"""F1: what the bot does with the shopper's answer to the 回访 (seed 000 篇1).
Used by the Rasa action (actions/followups.py); no Rasa import here.

    satisfied        -> thanks, invite a 5-star review
    unsatisfied      -> apology, record, after-sales offer (return / human)
    not_received     -> O5: courier investigation opened + a promise with its time
    signed_by_other  -> ask them to check the goods; review or contact us
    about_to_sign    -> check before signing; review invitation
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Dict, Optional, Tuple

# The shopper's intent right after a 回访 -> the case. praise/affirm/complain/query_order are
# the bot's existing intents (rules only use them this way while `followup_asked` is set);
# the two others are new (data/nlu/followups.yml).
CASES = {
    "praise": "satisfied",
    "affirm": "satisfied",
    "thank": "satisfied",
    "complain": "unsatisfied",
    "query_order": "not_received",
    "followup_signed_by_other": "signed_by_other",
    "followup_about_to_sign": "about_to_sign",
}
RESPONSES = {
    "satisfied": "utter_followup_satisfied",
    "unsatisfied": "utter_followup_unsatisfied",
    "signed_by_other": "utter_followup_signed_by_other",
    "about_to_sign": "utter_followup_about_to_sign",
    "not_received": "utter_investigation_opened_check_family",  # the O5 reply: check with family, courier asked
    "no_order": "utter_followup_no_order",
    "opted_out": "utter_followup_opted_out",
}


async def answer(
    case: str,
    *,
    shop: Any,
    buyer_id: Optional[str],
    order_id: Optional[str],
    now: datetime,
    tz: str,
    follow_up_hours: float,
    default_courier: str = "",
    conversation_id: Optional[str] = None,
    text: str = "",
) -> Tuple[str, Dict[str, str]]:
    """(response name, values) for one answer; `not_received` writes the investigation
    and the promise to the shop backend, like the O5 flow does."""
    from followup.scheduler import order_values
    from shop.timeutil import local_text

    if case not in RESPONSES:
        raise ValueError(f"unknown follow-up answer {case!r}")
    if case != "not_received":
        return RESPONSES[case], {}
    order = None
    if shop is not None and buyer_id and order_id:
        order = await shop.get_order(order_id, buyer_id=buyer_id)
    if order is None:
        return RESPONSES["no_order"], {}
    await shop.open_courier_investigation(
        order.order_id, buyer_id=buyer_id, note=text or "回访:未收到货", at=now, conversation_id=conversation_id
    )
    due = now + timedelta(hours=follow_up_hours)
    await shop.promise_follow_up(
        buyer_id=buyer_id,
        topic="courier_investigation",
        due_at=due,
        order_id=order.order_id,
        at=now,
        conversation_id=conversation_id,
    )
    values = order_values(order, tz, default_courier)
    values["follow_up_time"] = local_text(due, tz)
    return RESPONSES[case], values
