"""Price and bargaining (P2, P3, P4, P8)."""

from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.catalogue import answer_price, named_product, product_missing
from actions.common import latest_entity, matches, subtopic
from actions.turn import Turn, run_turn

LADDER = ("utter_bargain_step1", "utter_bargain_step2", "utter_bargain_step3")


class ActionRespondBargain(Action):
    """P3: each further request in the conversation climbs one step of the
    documented ladder; past the last step the bot holds the price politely.
    A comparison with another shop gets the P4 reply (never naming it)."""

    def name(self) -> Text:
        return "action_respond_bargain"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[Dict]:
        step = int(tracker.get_slot("bargain_step") or 0)
        if matches(tracker, "bargain", "comparison") and step == 0:
            dispatcher.utter_message(response="utter_price_comparison")
        elif step == 0 and matches(tracker, "bargain", "student"):
            dispatcher.utter_message(response="utter_bargain_student")
        elif step < len(LADDER):
            dispatcher.utter_message(response=LADDER[step])
        else:
            dispatcher.utter_message(response="utter_bargain_final")
        return [SlotSet("bargain_step", float(step + 1))]


class ActionAnswerPrice(Action):
    """P2 price and promotions (from the catalogue when a product is named:
    current price, activity, coupon, final price, end time); P8 membership,
    points and group buying."""

    def name(self) -> Text:
        return "action_answer_price"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[Dict]:
        topic = subtopic(tracker, "price")
        if topic == "membership":
            dispatcher.utter_message(response="utter_membership")
        elif topic == "group_buy":
            dispatcher.utter_message(response="utter_group_buy")
        elif matches(tracker, "bargain", "comparison"):
            dispatcher.utter_message(response="utter_price_comparison")
        elif latest_entity(tracker, "product"):
            return await run_turn(dispatcher, tracker, answer_named_price)
        else:
            dispatcher.utter_message(response="utter_ask_price")
        return []


async def answer_named_price(turn: Turn) -> None:
    named = await named_product(turn)
    if not product_missing(turn, named):
        await answer_price(turn, named)
