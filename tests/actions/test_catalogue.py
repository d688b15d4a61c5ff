"""Product, price and stock answers from the catalogue (P1, P2, P5)."""

from __future__ import annotations

from actions.bargain import ActionAnswerPrice
from actions.catalogue import ActionAnswerProduct, ActionAnswerStock
from tests.actions.conftest import make_tracker, run_action
from tests.actions.test_orders import said, shop, values_of  # noqa: F401 - the seeded shop fixture


def ask(text, intent, **entities):
    return make_tracker(text, intent, entities=[{"entity": k, "value": v} for k, v in entities.items()])


async def test_without_a_product_the_general_replies_stay(shop):
    d, _ = await run_action(ActionAnswerProduct(), ask("是正品吗", "ask_product"))
    assert said(d) == ["utter_ask_product"]
    d, _ = await run_action(ActionAnswerStock(), ask("有货吗", "ask_stock"))
    assert said(d) == ["utter_ask_stock"]
    d, _ = await run_action(ActionAnswerPrice(), ask("多少钱", "ask_price"))
    assert said(d) == ["utter_ask_price"]


async def test_product_specs_and_faq(shop):
    d, _ = await run_action(ActionAnswerProduct(), ask("这个数据线支持快充吗", "ask_product", product="数据线"))
    assert said(d) == ["utter_product_info", "utter_product_faq"]
    assert "尼龙编织" in values_of(d, "utter_product_info")["specs"]
    assert values_of(d, "utter_product_faq")["faq_answer"] == "支持PD 20W快充。"


async def test_several_products_of_a_category_are_offered_as_choices(shop):
    d, _ = await run_action(ActionAnswerProduct(), ask("手机壳怎么样", "ask_product", product="手机壳"))
    assert said(d) == ["utter_product_choices"]
    assert "星耀磁吸手机壳" in values_of(d, "utter_product_choices")["options"]


async def test_unknown_category(shop):
    d, _ = await run_action(ActionAnswerProduct(), ask("有自拍杆吗", "ask_product", product="自拍杆"))
    assert said(d) == ["utter_product_not_found"]


async def test_price_with_promotion_coupon_final_price_and_end(shop):
    d, _ = await run_action(
        ActionAnswerPrice(), ask("白色2米的数据线多少钱", "ask_price", product="数据线", color="白色", size="2米")
    )
    assert said(d) == ["utter_product_price_coupon_missing"]
    m = values_of(d, "utter_product_price_coupon_missing")
    assert (m["list_price"], m["unit_price"], m["coupon_missing"]) == ("35.9", "30.9", "18.1")
    assert m["promotion"] == "秋季焕新季" and m["promo_end"]


async def test_price_without_promotion(shop):
    d, _ = await run_action(ActionAnswerPrice(), ask("充电器多少钱", "ask_price", product="充电器"))
    assert said(d) == ["utter_product_price_plain"] and values_of(d, "utter_product_price_plain")["unit_price"] == "99"


async def test_stock_in_stock(shop):
    d, _ = await run_action(ActionAnswerStock(), ask("蓝色的数据线还有吗", "ask_stock", product="数据线", color="蓝色"))
    assert said(d) == ["utter_stock_available"]


async def test_sold_out_variant_is_duanma_with_restock_and_other_variants(shop):
    d, _ = await run_action(
        ActionAnswerStock(), ask("黑色的数据线还有货吗", "ask_stock", product="数据线", color="黑色")
    )
    assert said(d) == ["utter_stock_sold_out", "utter_stock_other_variants"]
    assert values_of(d, "utter_stock_sold_out")["restock_date"]
    assert "黑色" not in values_of(d, "utter_stock_other_variants")["options"]


async def test_sold_out_product_suggests_similar_products(shop):
    d, _ = await run_action(ActionAnswerStock(), ask("磁吸手机壳还有吗", "ask_stock", product="手机壳"))
    assert said(d) == ["utter_stock_sold_out_no_date", "utter_stock_alternatives"]
    assert values_of(d, "utter_stock_alternatives")["alternatives"] == "星耀透明手机壳"
    for m in d.messages:
        assert "缺货" not in repr(m)
