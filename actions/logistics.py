"""Logistics before the order (L1-L6): courier, warehouse, fee, delivery time."""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.common import entity_or_slot, latest_entity, matches, store


def _place_values(place: str) -> Dict[str, str]:
    s = store()
    wh = s.warehouse_for(place)
    return {"city": place, "warehouse_city": wh.city, "warehouse_name": wh.name, "transit": s.transit_for(place)}


def _specified_courier_reply(dispatcher: CollectingDispatcher, city: Optional[str]) -> None:
    s = store()
    if city and s.specified_courier.policy == "surcharge":
        dispatcher.utter_message(response="utter_specified_courier_fee", city=city,
                                 fee=str(s.specified_courier_first_kg(city)))
    else:
        dispatcher.utter_message(response="utter_specified_courier")


class ActionAnswerCourier(Action):
    """L1 which courier / where it ships from; L2 a specific courier by store
    policy; L6 no self pick-up."""

    def name(self) -> Text:
        return "action_answer_courier"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[Dict]:
        s = store()
        if matches(tracker, "courier", "self_pickup"):
            dispatcher.utter_message(response="utter_no_self_pickup")
            return []
        asked = latest_entity(tracker, "courier")
        city = entity_or_slot(tracker, "city")
        if asked:
            courier = s.canonical_courier(asked)
            if courier == s.default_courier:
                dispatcher.utter_message(response="utter_courier_default")
            elif courier == s.specified_courier.courier:
                _specified_courier_reply(dispatcher, latest_entity(tracker, "city"))
            elif courier in s.couriers:
                dispatcher.utter_message(response="utter_courier_partner", courier=courier)
            else:
                dispatcher.utter_message(response="utter_courier_unavailable", courier=asked)
            return []
        if city:
            dispatcher.utter_message(response="utter_ship_from", **_place_values(city))
        elif matches(tracker, "courier", "ship_from"):
            dispatcher.utter_message(response="utter_ship_from_general")
        else:
            dispatcher.utter_message(response="utter_ask_courier")
        return []


class ActionAnswerShippingFee(Action):
    """L3: free shipping stated as such; remote areas and the specified courier
    surcharge from store.yml."""

    def name(self) -> Text:
        return "action_answer_shipping_fee"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[Dict]:
        s = store()
        asked = latest_entity(tracker, "courier")
        city = latest_entity(tracker, "city")
        if asked and s.canonical_courier(asked) == s.specified_courier.courier:
            _specified_courier_reply(dispatcher, city)
        elif city and s.is_remote(city):
            dispatcher.utter_message(response="utter_shipping_fee_remote", city=city)
        elif city:
            dispatcher.utter_message(response="utter_shipping_fee_city", city=city)
        else:
            dispatcher.utter_message(response="utter_shipping_fee")
        return []


class ActionAnswerDeliveryTime(Action):
    """L4 shipping window and usual transit days, never a guaranteed date;
    L5 delivery-slot wishes; urgent shoppers get the faster-courier option."""

    def name(self) -> Text:
        return "action_answer_delivery_time"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[Dict]:
        if matches(tracker, "delivery", "self_pickup"):
            dispatcher.utter_message(response="utter_no_self_pickup")
            return []
        if matches(tracker, "delivery", "slot"):
            dispatcher.utter_message(response="utter_delivery_slot")
            return []
        city = entity_or_slot(tracker, "city")
        if city:
            dispatcher.utter_message(response="utter_delivery_time_city", **_place_values(city))
        else:
            dispatcher.utter_message(response="utter_ask_delivery_time")
        if matches(tracker, "delivery", "no_guarantee"):
            dispatcher.utter_message(response="utter_delivery_no_guarantee")
        elif matches(tracker, "delivery", "urgent"):
            dispatcher.utter_message(response="utter_delivery_urgent")
        return []
