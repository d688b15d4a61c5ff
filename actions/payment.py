"""Payment help (P6): methods, card and instalments, cash on delivery, failures."""
from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.common import subtopic

RESPONSES = {
    "failed": "utter_payment_failed",
    "instalment": "utter_payment_instalment",
    "cod": "utter_payment_cod",
    "paid": "utter_payment_check",
}


class ActionAnswerPayment(Action):
    def name(self) -> Text:
        return "action_answer_payment"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[Dict]:
        topic = subtopic(tracker, "payment", ["failed", "paid", "cod", "instalment"])
        dispatcher.utter_message(response=RESPONSES.get(topic or "", "utter_ask_payment"))
        return []
