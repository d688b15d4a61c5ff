"""Complaints and requests for a human (C1, C3, C5, C6, C8).

The bot acknowledges with the documented wording and hands the conversation
over with a `handoff` payload (reason, category, priority, summary, deadline)
that the desk puts in the agents' queue.
"""

from __future__ import annotations

import re
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ConversationPaused
from rasa_sdk.executor import CollectingDispatcher

from actions.common import matches, metadata, store, subtopics, text_of
from actions.records import promise

SUMMARY_CHARS = 120
RESTATE_CHARS = 40
CLAUSE_RE = re.compile(r"[,,。!!??;;]+")


def complaint_category(text: str) -> Optional[str]:
    """商品质量 / 服务质量 / 环境质量 (seed 001 投诉类服务) from keywords: the
    category with the most keywords in the text, ties to the one listed first
    in lexicon/subtopics.yml."""
    best, best_hits = None, 0
    for category, words in subtopics().get("complaint_category", {}).items():
        hits = sum(1 for w in words if w in text)
        if hits > best_hits:
            best, best_hits = category, hits
    return best


def restated(text: str) -> str:
    """The shopper's own words, shortened, for "您反映的是……对吗?" (G11);
    the clause that only says they complain ("我要投诉") is not the problem."""
    text = " ".join(text.split())
    clauses = [c for c in CLAUSE_RE.split(text) if c.strip()]
    complain_only = subtopics().get("handoff", {}).get("complain_only", [])
    kept = [c for c in clauses if not any(w in c for w in complain_only)]
    if kept and len(kept) < len(clauses):
        text = ",".join(c.strip() for c in kept)
    return text if len(text) <= RESTATE_CHARS else text[:RESTATE_CHARS] + "……"


def quotable(text: str) -> bool:
    """May the shopper's words be repeated back? Only when the policy guard
    would send them as they are: a quote with a phone number, a price cut or
    a forbidden phrase in it would come out masked or replaced."""
    try:
        from guard import Context, check
    except ImportError:  # pragma: no cover - guard package missing
        return True
    s = store()
    return check(text, Context(platform=s.platform, store=s, speaker="bot")).ok


def restate(dispatcher: CollectingDispatcher, text: str, category: Optional[str]) -> None:
    """G11: "您反映的是「…」,属于…方面的问题,对吗?" in the shopper's words when they can be quoted."""
    quote = restated(text)
    if not quotable(quote):
        response = "utter_complaint_restate_category" if category else "utter_complaint_restate_general"
        dispatcher.utter_message(response=response, category=category)
    elif category:
        dispatcher.utter_message(response="utter_complaint_restate", category=category, complaint=quote)
    else:
        dispatcher.utter_message(response="utter_complaint_restate_uncategorised", complaint=quote)


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

        # C1/C5: an upset shopper is calmed and heard first, whether or not a
        # person is on duty; only then comes what happens next (C3 deadline or
        # the C8 offline notice).
        if reason == "abuse":
            dispatcher.utter_message(response="utter_abuse_calm" if online else "utter_abuse_calm_offline")
        elif reason == "complaint":
            dispatcher.utter_message(response="utter_complaint_ack")
            restate(dispatcher, text, category)
            if online:
                dispatcher.utter_message(response="utter_complaint_deadline")
            else:
                dispatcher.utter_message(response="utter_complaint_offline", deadline_hours=str(deadline_hours))
            if not tracker.get_slot("shopper_title"):
                dispatcher.utter_message(response="utter_ask_name")  # G3
        elif not online:
            dispatcher.utter_message(response="utter_offline")
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
            # C5/C6: abuse and requests for a supervisor are for a supervisor to take
            "for_supervisor": reason in ("abuse", "supervisor"),
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
