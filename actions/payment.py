"""Payment help (P6): methods, card and instalments, cash on delivery, failures."""

from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.common import subtopic


class ActionAnswerPayment(Action):
    def name(self) -> Text:
        return "action_answer_payment"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[Dict]:
        # lexicon/subtopics.yml `payment`: the subtopic names the reply (utter_payment_failed ...)
        topic = subtopic(tracker, "payment")
        dispatcher.utter_message(response="utter_payment_" + topic if topic else "utter_ask_payment")
        return []
