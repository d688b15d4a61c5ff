"""Complaints and requests for a human (C1, C3, C5, C6, C8).

The bot acknowledges with the documented wording and hands the conversation
over with a `handoff` payload (reason, category, priority, summary, deadline)
that the desk puts in the agents' queue.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ConversationPaused
from rasa_sdk.executor import CollectingDispatcher

from actions.common import matches, metadata, store, subtopics, text_of
from actions.records import promise

SUMMARY_CHARS = 120


def complaint_category(text: str) -> Optional[str]:
    """商品质量 / 服务质量 / 环境质量 (seed 001 投诉类服务) from keywords."""
    for category, words in subtopics().get("complaint_category", {}).items():
        if any(w in text for w in words):
            return category
    return None


class ActionStartHandoff(Action):
    def name(self) -> Text:
        return "action_start_handoff"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[Dict]:
        s = store()
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        text = tracker.latest_message.get("text") or ""
        abusive = matches(tracker, "handoff", "abuse")
        supervisor = matches(tracker, "handoff", "supervisor")
        if abusive:
            reason = "abuse"
        elif intent == "complain":
            reason = "complaint"
        elif intent == "request_human":
            reason = "supervisor" if supervisor else "request_human"
        else:
            reason = intent or "unresolved"
        category = complaint_category(text_of(tracker)) if reason in ("complaint", "abuse") else None
        priority = "high" if abusive or supervisor else ("normal" if reason != "request_human" else "low")
        # C3: a categorised complaint is simple (2 h); unclear or abusive ones are complex (24 h)
        complex_case = reason == "abuse" or (reason == "complaint" and category is None)
        deadline_hours = s.complaint_complex_hours if complex_case else s.complaint_simple_hours
        online = s.agents_online()

        if not online:
            dispatcher.utter_message(response="utter_offline")
        elif reason == "abuse":
            dispatcher.utter_message(response="utter_abuse_calm")
        elif reason == "complaint":
            dispatcher.utter_message(response="utter_complaint_ack")
            dispatcher.utter_message(response="utter_complaint_deadline")
            if not tracker.get_slot("shopper_title"):
                dispatcher.utter_message(response="utter_ask_name")  # G3
        elif reason == "supervisor":
            dispatcher.utter_message(response="utter_request_supervisor_ack")
        else:
            dispatcher.utter_message(response="utter_request_human_ack")

        summary = text if len(text) <= SUMMARY_CHARS else text[:SUMMARY_CHARS] + "……"
        handoff = {
            "reason": reason,
            "category": category,
            "priority": priority,
            "summary": summary,
            "deadline_hours": deadline_hours,
            "agents_online": online,
        }
        # C3: the answer promised within the deadline is tracked until kept
        await promise(tracker, f"handoff:{reason}: {summary}", deadline_hours)
        dispatcher.utter_message(json_message={"handoff": handoff})
        # The desk queues the conversation and relays shopper messages to an
        # agent; over a plain REST client nobody would answer, so the bot
        # pauses only when the desk is the one asking.
        if metadata(tracker).get("via") == "desk":
            return [ConversationPaused()]
        return []
