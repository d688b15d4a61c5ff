"""Logistics before the order (L1-L6): courier, warehouse, fee, delivery time.

Fees and transit come from shop.rules (store.yml); with a product named, its
weight and free-shipping flag decide the fee (a free-shipping item is never
said to be not free). Transit times are usual times, never a guarantee.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import FollowupAction
from rasa_sdk.executor import CollectingDispatcher

from actions.catalogue import named_product
from actions.common import entity_or_slot, latest_entity, matches, store
from actions.order_lookup import wants_note
from actions.turn import Turn, Unavailable
from shop.models import yuan_text
from shop.rules import FeeItem, shipping_fee, transit_estimate


def wants_self_pickup(tracker: Tracker) -> bool:
    """L6: "自提", "我自己去拿", "能到仓库取吗" (lexicon/subtopics.yml pickup.self)."""
    return matches(tracker, "pickup", "self")


def _place_values(place: str) -> Dict[str, str]:
    t = transit_estimate(store(), place)
    return {"city": place, "warehouse_city": t.warehouse_city, "warehouse_name": t.warehouse, "transit": t.days}


def _specified_courier_reply(dispatcher: CollectingDispatcher, city: Optional[str]) -> None:
    s = store()
    if city and s.specified_courier.policy == "surcharge":
        quote = shipping_fee(s, destination=city, courier=s.specified_courier.courier)  # first kg
        dispatcher.utter_message(response="utter_specified_courier_fee", city=city, fee=yuan_text(quote.courier_fee))
    else:
        dispatcher.utter_message(response="utter_specified_courier")


class ActionAnswerCourier(Action):
    """L1 which courier / where it ships from; L2 a specific courier by store
    policy; L6 no self pick-up."""

    def name(self) -> Text:
        return "action_answer_courier"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[Dict]:
        s = store()
        if wants_self_pickup(tracker):
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
        if wants_self_pickup(tracker):
            dispatcher.utter_message(response="utter_no_self_pickup")
            return []
        asked = latest_entity(tracker, "courier")
        city = latest_entity(tracker, "city")
        if latest_entity(tracker, "product"):
            try:
                named = await named_product(Turn(dispatcher, tracker, None))
            except Unavailable:
                named = None
            if named is not None and named.product is not None:
                _product_fee_reply(dispatcher, named.product, city, asked)
                return []
        if asked and s.canonical_courier(asked) == s.specified_courier.courier:
            _specified_courier_reply(dispatcher, city)
        elif city and s.is_remote(city):
            dispatcher.utter_message(response="utter_shipping_fee_remote", city=city)
        elif city:
            dispatcher.utter_message(response="utter_shipping_fee_city", city=city)
        else:
            dispatcher.utter_message(response="utter_shipping_fee")
        return []


def _product_fee_reply(
    dispatcher: CollectingDispatcher, product: Any, city: Optional[str], courier: Optional[str]
) -> None:
    """L2/L3 for one product: computed by shop.rules.shipping_fee from its weight and flag."""
    q = shipping_fee(store(), destination=city, items=[FeeItem.of(product)], courier=courier)
    values = {"product_name": product.name, "city": city, "courier": q.courier}
    if not q.available:
        if q.reason == "courier_not_offered":
            dispatcher.utter_message(response="utter_courier_unavailable", courier=courier)
        else:
            _specified_courier_reply(dispatcher, city)
        return
    if q.specified and courier and (q.free_shipping or not city):
        if city:
            dispatcher.utter_message(
                response="utter_product_specified_courier_fee",
                fee=yuan_text(q.fee),
                weight_kg=str(q.weight_kg),
                **values,
            )
        else:
            _specified_courier_reply(dispatcher, None)
        return
    if q.free_shipping:
        if city and q.remote:
            dispatcher.utter_message(response="utter_product_free_shipping_remote", **values)
        elif city:
            dispatcher.utter_message(response="utter_product_free_shipping_city", **values)
        else:
            dispatcher.utter_message(response="utter_product_free_shipping", product_name=product.name)
        return
    if city:
        dispatcher.utter_message(response="utter_product_shipping_fee", fee=yuan_text(q.fee), **values)
    else:
        dispatcher.utter_message(
            response="utter_product_shipping_fee_any", product_name=product.name, fee=yuan_text(q.base_fee)
        )


class ActionAnswerDeliveryTime(Action):
    """L4 shipping window and usual transit days, never a guaranteed date;
    L5 delivery-slot wishes; urgent shoppers get the faster-courier option."""

    def name(self) -> Text:
        return "action_answer_delivery_time"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[Dict]:
        if wants_self_pickup(tracker):
            dispatcher.utter_message(response="utter_no_self_pickup")
            return []
        if wants_note(tracker):
            # O8/L5: "DD…的订单周末再送" is noted on that order (action_change_order)
            return [FollowupAction("action_change_order")]
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
