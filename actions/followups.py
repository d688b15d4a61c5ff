"""F1 in the bot: the answer to a 回访 the desk's scheduler sent (followup/).

The desk delivers the proactive message itself, then posts the external event
EXTERNAL_followup_* (entity order_id). This action notes which follow-up went
out (slot followup_asked) and, for a 回访, opens delivery_check_open; it says
nothing. While that is open, the rules in data/rules/followups.yml send the
shopper's answer here and the seed's script for that case is given
(followup/answers.py). "别再发了" stores the opt-out.

Only the rules run this action: no slot mapping calls it. Rasa's slot
extraction ran it on every message (an action-server call per turn) and with it
its side effects: "别再发了" stored the opt-out twice, and "没收到" right after a
回访 opened the courier investigation and its promise twice."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Dict, List

from rasa_sdk import Action, Tracker
from rasa_sdk.events import FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import store
from actions.order_lookup import FOLLOW_UP_HOURS, order_ids_in
from actions.records import buyer_id, get_backend
from actions.turn import now

# sent by the scheduler, not by this action (listed so every response has its sender)
SENT_BY_SCHEDULER = ("utter_followup_delivery_check", "utter_followup_unpaid", "utter_followup_promise_late")
# every response this action can send (followup/answers.py picks one; a test keeps both in step)
SENDS = (
    "utter_followup_satisfied",
    "utter_followup_unsatisfied",
    "utter_followup_signed_by_other",
    "utter_followup_about_to_sign",
    "utter_investigation_opened_check_family",
    "utter_followup_no_order",
    "utter_followup_opted_out",
)
EXTERNAL = {"EXTERNAL_followup_delivery_check": "delivery_check", "EXTERNAL_followup_unpaid": "unpaid"}
OPEN_SLOT = "delivery_check_open"
# The 回访 is answered by the shopper's next message only. A shopper who talked about something
# else first has left it: their later "很满意" / "我要投诉" is not about the 回访, and gets what
# the ordinary rules give (data/rules/chitchat.yml, handoff.yml, orders.yml).
ORDINARY_ACTION = {
    "praise": "action_acknowledge_praise",
    "thank": "utter_thank",
    "affirm": "utter_ok_anything_else",
    "complain": "action_start_handoff",
    "query_order": "action_look_up_order",
}


def followup_left(tracker: Tracker) -> bool:
    """True when another shopper message came between the 回访 and this one."""
    seen_current = False
    for event in reversed(tracker.events):
        if event.get("event") != "user":
            continue
        if not seen_current:
            seen_current = True  # the message being answered
            continue
        intent = ((event.get("parse_data") or {}).get("intent") or {}).get("name") or ""
        return intent not in EXTERNAL
    return False


async def store_opt_out(buyer: str, text: str) -> None:
    """The same opt-out table the desk's scheduler reads."""
    import os

    from followup.config import ROOT, followup_db_url, load_config
    from followup.db import open_followup_db
    from followup.db import store_opt_out as store

    desk_url = os.environ.get("XIAOER_DESK_DB_URL") or f"sqlite+aiosqlite:///{ROOT / 'var' / 'desk.db'}"
    cfg = load_config()
    engine = await open_followup_db(followup_db_url(desk_url, cfg.db_url if cfg.db_url_set else ""))
    try:
        await store(engine, buyer, text, datetime.now(timezone.utc), actor="bot")
    finally:
        await engine.dispose()


def closed() -> List[Dict[str, Any]]:
    """The follow-up is answered (or left): the next message is an ordinary one."""
    return [SlotSet("followup_asked", None), SlotSet(OPEN_SLOT, False)]


class ActionAnswerFollowup(Action):
    def name(self) -> str:
        return "action_answer_followup"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]) -> List[Any]:
        from followup.answers import CASES, answer

        intent = (tracker.latest_message.get("intent") or {}).get("name") or ""
        if intent in EXTERNAL:
            kind = EXTERNAL[intent]
            return [SlotSet("followup_asked", kind), SlotSet(OPEN_SLOT, kind == "delivery_check")]
        buyer = buyer_id(tracker)
        text = tracker.latest_message.get("text") or ""
        if intent == "stop_followups":
            if buyer:
                await store_opt_out(buyer, text)
            dispatcher.utter_message(response="utter_followup_opted_out")
            return closed()
        case = CASES.get(intent)
        if case is None:
            return closed()
        if intent in ORDINARY_ACTION and followup_left(tracker):
            ordinary = ORDINARY_ACTION[intent]
            if intent == "affirm" and tracker.get_slot("awaiting_order_answer"):
                ordinary = "action_confirm_order_step"
            return [*closed(), FollowupAction(ordinary)]
        if case == "not_received":
            named = order_ids_in(tracker)
            if named and tracker.get_slot("order_id") not in named:
                # about another order: the normal order lookup answers
                return [*closed(), FollowupAction("action_look_up_order")]
        response, values = await answer(
            case,
            shop=await get_backend(),
            buyer_id=buyer,
            order_id=tracker.get_slot("order_id"),
            now=now(),
            tz=store().timezone,
            follow_up_hours=FOLLOW_UP_HOURS,
            default_courier=store().default_courier,
            conversation_id=tracker.sender_id,
            text=text,
        )
        dispatcher.utter_message(response=response, **values)
        return closed()
