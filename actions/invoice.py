"""Invoices (I1-I3): always available and free; type and title; delays get a
concrete reissue time with postage paid by the store."""
from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.common import subtopic
from actions.common import store
from actions.records import promise

RESPONSES = {
    "delay": "utter_invoice_delay",
    "title": "utter_invoice_title",
    "types": "utter_invoice_types",
    "any_order": "utter_invoice_any_order",
}


class ActionAnswerInvoice(Action):
    def name(self) -> Text:
        return "action_answer_invoice"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[Dict]:
        topic = subtopic(tracker, "invoice", ["delay", "any_order", "title", "types"])
        if topic == "delay":
            # I3: the reissue promise is recorded so it is kept (F4)
            await promise(tracker, "invoice_reissue: " + (tracker.latest_message.get("text") or ""),
                          store().invoice_reissue_days * 24)
        dispatcher.utter_message(response=RESPONSES.get(topic or "", "utter_ask_invoice"))
        return []
