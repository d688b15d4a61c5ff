"""Issue 13, defect 4: the bot continues from what the agent resolved.

action_note_handback runs on the desk's external event EXTERNAL_handback and
keeps the agent's resolution (summary, category, order, agent number, time) in
slots; it says nothing. action_continue_handback answers a later message the
bot could not otherwise answer (out_of_scope, nlu_fallback: data/rules/handback.yml)
and "刚才那个问题怎么样了" (ask_case_progress): about the resolved case
(xiaoer/handback.py decides), the agent's resolution is acknowledged and a human
chat offered again; otherwise the ordinary answer."""

from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import subtopics, text_of
from actions.fallback import repair
from actions.orders import order_ids_in
from xiaoer.handback import Handback, parse_at, utc_now

SLOTS = ("handback_open", "handback_summary", "handback_category", "handback_agent", "handback_at")
PROGRESS_INTENT = "ask_case_progress"


def now():
    return utc_now()


def open_case(tracker: Tracker) -> Handback:
    return Handback(
        summary=tracker.get_slot("handback_summary") or "",
        category=tracker.get_slot("handback_category"),
        order_id=tracker.get_slot("order_id"),
        agent_number=tracker.get_slot("handback_agent"),
        at=parse_at(tracker.get_slot("handback_at")),
    )


def ordinary_action(intent: str) -> Action:
    """What the rules give a message of this intent when no case is open (data/rules/chitchat.yml,
    orders.yml). Run in this action rather than through FollowupAction: the turn then ends
    as the rules in data/rules/handback.yml say, with no policy guessing after it."""
    from actions.fallback import ActionHandleFallback, ActionHandleOutOfScope
    from actions.orders import ActionLookUpOrder

    return {"nlu_fallback": ActionHandleFallback(), PROGRESS_INTENT: ActionLookUpOrder()}.get(
        intent, ActionHandleOutOfScope()
    )


class ActionNoteHandback(Action):
    def name(self) -> Text:
        return "action_note_handback"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[Dict]:
        case = Handback.from_entities(tracker.latest_message.get("entities") or [], now())
        events = [
            SlotSet("handback_open", True),
            SlotSet("handback_summary", case.summary or None),
            SlotSet("handback_category", case.category),
            SlotSet("handback_agent", case.agent_number),
            SlotSet("handback_at", case.at.isoformat()),
        ]
        if case.order_id:
            events.append(SlotSet("order_id", case.order_id))
        return events


class ActionContinueHandback(Action):
    def name(self) -> Text:
        return "action_continue_handback"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[Dict]:
        intent = (tracker.latest_message.get("intent") or {}).get("name") or ""
        case = open_case(tracker)
        closed: List[Dict] = []
        if tracker.get_slot("handback_open") and not case.fresh(now()):
            # a day later the shopper has moved on: the case is closed for the bot too
            closed = [SlotSet(s, None) for s in SLOTS]
        if closed or not tracker.get_slot("handback_open"):
            if intent == PROGRESS_INTENT and not order_ids_in(tracker):
                dispatcher.utter_message(response="utter_handback_none")
                return closed
            return closed + await ordinary_action(intent).run(dispatcher, tracker, domain)
        repaired = repair(tracker, dispatcher)  # abuse, a wish to note, self pick-up: as everywhere
        if repaired is not None:
            return repaired
        category_words = subtopics().get("complaint_category", {}).get(case.category or "", [])
        named = [o.lower() for o in order_ids_in(tracker)]
        about = case.about(text_of(tracker), category_words)
        if intent == PROGRESS_INTENT:
            # asked about the case in so many words: only another order number makes it another matter
            about = not named or bool(case.order_id and case.order_id.lower() in named)
        if not about:
            return await ordinary_action(intent).run(dispatcher, tracker, domain)
        values = {
            "handback_agent": case.agent_number or "",
            "handback_summary": case.summary,
            "handback_category": case.category or "",
        }
        if case.summary and case.order_id:
            dispatcher.utter_message(response="utter_handback_resolved_order", order_id=case.order_id, **values)
        elif case.summary:
            dispatcher.utter_message(response="utter_handback_resolved", **values)
        else:
            dispatcher.utter_message(response="utter_handback_resolved_general", **values)
        return []
