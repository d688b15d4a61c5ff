"""Low confidence and off-topic messages (G6, G9, G10, C7)."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import FollowupAction
from rasa_sdk.executor import CollectingDispatcher

from actions.common import matches, subtopic
from actions.order_lookup import wants_note
from actions.records import record_question
from xiaoer.text import has_han

FALLBACK_ACTION = "action_handle_fallback"
QUESTION_PREVIEW = 40


def repair(tracker: Tracker, dispatcher: CollectingDispatcher) -> Optional[List[Dict]]:
    """Messages whose words settle what to do even when the NLU is unsure or
    off: abuse goes to a supervisor (C5), a wish with an order number is noted
    on it (O8/L5), self pick-up gets its answer (L6). None: nothing to repair."""
    if matches(tracker, "handoff", "abuse"):
        return [FollowupAction("action_start_handoff")]
    if wants_note(tracker):
        return [FollowupAction("action_change_order")]
    if matches(tracker, "pickup", "self"):
        dispatcher.utter_message(response="utter_no_self_pickup")
        return []
    return None


def previous_turn_was_fallback(tracker: Tracker) -> bool:
    """Did the bot answer the shopper's previous message with the fallback?"""
    seen_latest_user = False
    for event in reversed(tracker.events):
        etype = event.get("event")
        if etype == "user":
            if seen_latest_user:
                return False
            seen_latest_user = True
        elif etype == "action" and seen_latest_user and event.get("name") == FALLBACK_ACTION:
            return True
    return False


class ActionHandleFallback(Action):
    """First miss: ask politely to rephrase (G6). Second miss in a row: the C7
    reply, restating the question, and the question recorded for follow-up."""

    def name(self) -> Text:
        return FALLBACK_ACTION

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[Dict]:
        repaired = repair(tracker, dispatcher)
        if repaired is not None:
            return repaired
        text = (tracker.latest_message.get("text") or "").strip()
        # Only a real question is worth recording and restating; keyboard
        # mashing, emoji or markup get the polite request to rephrase again.
        if previous_turn_was_fallback(tracker) and has_han(text):
            await record_question(tracker, text)
            preview = text if len(text) <= QUESTION_PREVIEW else text[:QUESTION_PREVIEW] + "……"
            dispatcher.utter_message(response="utter_unresolved", question=preview)
        else:
            dispatcher.utter_message(response="utter_rephrase")
        return []


class ActionHandleOutOfScope(Action):
    """G9 polite refusal; a date invitation gets the documented thanks-and-no;
    questions about the agent's person get only the agent number (G10)."""

    def name(self) -> Text:
        return "action_handle_out_of_scope"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[Dict]:
        repaired = repair(tracker, dispatcher)
        if repaired is not None:
            return repaired
        kind: Optional[str] = subtopic(tracker, "out_of_scope")
        response = {"invitation": "utter_decline_invitation", "personal": "utter_agent_number"}.get(
            kind or "", "utter_out_of_scope"
        )
        dispatcher.utter_message(response=response)
        return []
