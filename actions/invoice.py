"""Invoices (I1-I3): always available and free; type and title; delays get a
concrete reissue time with postage paid by the store."""

from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.common import store, subtopic
from actions.records import promise

# the subtopic whose reply promises a reissue date (I3)
DELAY = "delay"


class ActionAnswerInvoice(Action):
    def name(self) -> Text:
        return "action_answer_invoice"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[Dict]:
        # lexicon/subtopics.yml `invoice`: the subtopic names the reply (utter_invoice_delay ...)
        topic = subtopic(tracker, "invoice")
        if topic == DELAY:
            # I3: the reissue promise is recorded so it is kept (F4)
            await promise(
                tracker,
                "invoice_reissue: " + (tracker.latest_message.get("text") or ""),
                store().invoice_reissue_days * 24,
            )
        dispatcher.utter_message(response="utter_invoice_" + topic if topic else "utter_ask_invoice")
        return []
