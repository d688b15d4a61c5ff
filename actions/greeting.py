"""Opening, addressing the shopper, thanks, praise, suggestions, closing (G1-G4, G7)."""

from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import latest_entity, picked_order_action, text_of
from actions.order_lookup import wants_note
from actions.records import buyer_id, record_suggestion
from actions.turn import Turn, Unavailable
from xiaoer.phrases import addressing


class ActionGreet(Action):
    """G1 first-contact greeting with the topic menu; G2 for a returning shopper."""

    def name(self) -> Text:
        return "action_greet"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[Dict]:
        if greeted_this_session(tracker):
            # "你好" again a minute later is not a return visit (issue 13)
            dispatcher.utter_message(response="utter_greet_again")
            return []
        returning = bool(tracker.get_slot("returning_shopper"))
        dispatcher.utter_message(response="utter_greet_returning" if returning else "utter_greet")
        return [SlotSet("returning_shopper", True)]


def greeted_this_session(tracker: Tracker) -> bool:
    """Did the bot already greet in this session (since the last session_started)?
    A session ends after session_expiration_time (domain/core.yml) of silence."""
    for event in reversed(tracker.events[:-1] if tracker.events else []):
        if event.get("event") == "session_started":
            return False
        if event.get("event") == "action" and event.get("name") == "action_greet":
            return True
    return False


class ActionHandleInform(Action):
    """A message that only gives data. A surname ("我姓王") is remembered for
    addressing the shopper (G3); other data is acknowledged and kept in slots."""

    def name(self) -> Text:
        return "action_handle_inform"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[Dict]:
        if wants_note(tracker):
            # O8/L5: "DD… 下午送" is a wish for that order
            return [FollowupAction("action_change_order")]
        picked = picked_order_action(tracker)
        if picked:
            # an order button (or its number typed) continues the request it was listed for
            return [FollowupAction(picked)]
        if latest_entity(tracker, "order_id"):
            # a bare order number means "look at this order"
            return [FollowupAction("action_look_up_order")]
        surname = latest_entity(tracker, "surname")
        if surname:
            title = await shopper_title(dispatcher, tracker, surname)
            dispatcher.utter_message(response="utter_name_ack", shopper_title=title)
            return [SlotSet("shopper_title", title)]
        dispatcher.utter_message(response="utter_inform_received")
        return []


async def shopper_title(dispatcher: CollectingDispatcher, tracker: Tracker, surname: str) -> str:
    """How to address a shopper who gave their surname (G3): the title they
    used ("我是李女士"), else the one their words imply ("我姓王,女的"), else
    the logged-in buyer's own salutation when the surname is theirs, else
    both titles. The words are in lexicon/phrases.yml `addressing`."""
    words = addressing()
    if surname[-1] in words["titled_endings"]:
        return surname
    text = text_of(tracker)
    if any(w in text for w in words["female_words"]):
        return surname + words["female_title"]
    if any(w in text for w in words["male_words"]):
        return surname + words["male_title"]
    buyer = buyer_id(tracker)
    if buyer:
        try:
            account = await Turn(dispatcher, tracker, buyer).call(lambda b: b.get_buyer(buyer))
        except Unavailable:
            account = None  # addressing is no reason to apologise: both titles
        if account is not None and account.surname == surname:
            return account.salutation
    return surname + words["either_title"]


class ActionAcknowledgePraise(Action):
    """G7 praise; remembered so the farewell may invite a 5-star review (G4)."""

    def name(self) -> Text:
        return "action_acknowledge_praise"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[Dict]:
        dispatcher.utter_message(response="utter_praise")
        return [SlotSet("satisfied", True)]


class ActionSayGoodbye(Action):
    """G4 farewell; the 5-star invitation only after the shopper said they are satisfied."""

    def name(self) -> Text:
        return "action_say_goodbye"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[Dict]:
        dispatcher.utter_message(response="utter_goodbye_review" if tracker.get_slot("satisfied") else "utter_goodbye")
        return [SlotSet("bargain_step", None)]


class ActionRecordSuggestion(Action):
    """G7 suggestion: "已做好记录" must be true, so it is recorded for the team."""

    def name(self) -> Text:
        return "action_record_suggestion"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[Dict]:
        await record_suggestion(tracker, tracker.latest_message.get("text") or "")
        dispatcher.utter_message(response="utter_suggest")
        return []
