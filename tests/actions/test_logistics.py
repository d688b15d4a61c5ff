"""Shipping fee and transit (L2-L4) computed by shop.rules; with a product
named, its weight and free-shipping flag decide."""

from __future__ import annotations

from actions.logistics import ActionAnswerDeliveryTime, ActionAnswerShippingFee
from tests.actions.conftest import make_tracker, run_action
from tests.actions.test_orders import said, shop, values_of  # noqa: F401 - the seeded shop fixture


def ask(text, intent="ask_shipping_fee", **entities):
    return make_tracker(text, intent, entities=[{"entity": k, "value": v} for k, v in entities.items()])


async def test_free_shipping_item_is_free_to_a_city(shop):
    d, _ = await run_action(ActionAnswerShippingFee(), ask("数据线寄到苏州包邮吗", product="数据线", city="苏州"))
    assert said(d) == ["utter_product_free_shipping_city"]
    assert values_of(d, "utter_product_free_shipping_city")["courier"] == "中通快递"


async def test_free_shipping_item_to_a_remote_area_states_the_surcharge(shop):
    d, _ = await run_action(ActionAnswerShippingFee(), ask("充电器寄乌鲁木齐包邮吗", product="充电器", city="乌鲁木齐"))
    assert said(d) == ["utter_product_free_shipping_remote"]


async def test_specified_courier_fee_by_weight_and_region(shop):
    d, _ = await run_action(
        ActionAnswerShippingFee(), ask("充电器发顺丰到北京多少钱", product="充电器", courier="顺丰", city="北京")
    )
    assert said(d) == ["utter_product_specified_courier_fee"]
    m = values_of(d, "utter_product_specified_courier_fee")
    assert (m["fee"], m["weight_kg"], m["courier"]) == ("22", "1", "顺丰速运")
    d, _ = await run_action(
        ActionAnswerShippingFee(), ask("数据线顺丰到杭州多少钱", product="数据线", courier="顺丰", city="杭州")
    )
    assert values_of(d, "utter_product_specified_courier_fee")["fee"] == "14"


async def test_non_free_item_fee(shop):
    d, _ = await run_action(ActionAnswerShippingFee(), ask("磁吸手机壳寄到杭州运费多少", product="手机壳", city="杭州"))
    # two phone cases: the one named in the message is meant
    assert said(d) == ["utter_product_shipping_fee"] and values_of(d, "utter_product_shipping_fee")["fee"] == "6"


async def test_without_a_product_the_store_wide_replies_stay(shop):
    d, _ = await run_action(ActionAnswerShippingFee(), ask("寄到苏州包邮吗", city="苏州"))
    assert said(d) == ["utter_shipping_fee_city"]
    d, _ = await run_action(ActionAnswerShippingFee(), ask("包邮吗"))
    assert said(d) == ["utter_shipping_fee"]


async def test_transit_from_the_rules_without_a_guarantee(shop):
    d, _ = await run_action(ActionAnswerDeliveryTime(), ask("寄到苏州几天到", "ask_delivery_time", city="苏州"))
    assert said(d) == ["utter_delivery_time_city"]
    m = values_of(d, "utter_delivery_time_city")
    assert (m["transit"], m["warehouse_city"]) == ("1-2", "杭州")
