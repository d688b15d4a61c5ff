import dataclasses
from decimal import Decimal

import pytest

from shop.models import yuan
from shop.rules import FeeItem, shipping_fee, transit_estimate
from xiaoer.geo import PROVINCE_CITIES
from xiaoer.store_config import SpecifiedCourier

FREE = FeeItem(weight_g=60, qty=1, free_shipping=True, unit_price=yuan("29.9"))
NOT_FREE = FeeItem(weight_g=30, qty=1, free_shipping=False, unit_price=yuan("9.9"))


@pytest.mark.parametrize("city", ["杭州", "上海", "苏州", "北京", "广州", "成都"])
def test_free_item_with_default_courier_costs_nothing(store, city):
    q = shipping_fee(store, destination=city, items=[FREE])
    assert q.available and q.free_shipping
    assert q.fee == Decimal("0.00")
    assert q.courier == "中通快递" and not q.specified


def test_free_item_is_free_even_to_the_specified_couriers_near_region(store):
    # the 14 元 near-region price belongs to 顺丰 only; 江浙沪 with the default courier stays free
    q = shipping_fee(store, destination="江浙沪", items=[FREE])
    assert q.fee == 0 and q.free_shipping and q.near


def test_a_free_shipping_item_is_never_reported_as_not_free(store):
    for province, cities in PROVINCE_CITIES.items():
        for place in [province] + cities[:2]:
            for courier in (None, "中通", "圆通速递", "顺丰", "SF"):
                q = shipping_fee(store, destination=place, items=[FREE], courier=courier)
                assert q.free_shipping, (place, courier)
                if not q.specified:
                    assert q.fee == q.remote_surcharge, (place, courier)


def test_remote_area_adds_the_surcharge_to_free_items(store):
    q = shipping_fee(store, destination="乌鲁木齐", items=[FREE])
    assert q.remote and q.province == "新疆"
    assert q.free_shipping and q.base_fee == 0
    assert (q.remote_surcharge, q.fee) == (Decimal("10.00"), Decimal("10.00"))


def test_item_without_free_shipping_pays_the_base_fee(store):
    assert shipping_fee(store, destination="杭州", items=[NOT_FREE]).fee == Decimal("6.00")
    q = shipping_fee(store, destination="拉萨", items=[NOT_FREE])
    assert not q.free_shipping and q.fee == Decimal("16.00")


def test_mixed_order_is_not_free_unless_every_item_is(store):
    q = shipping_fee(store, destination="杭州", items=[FREE, NOT_FREE])
    assert not q.free_shipping and q.fee == Decimal("6.00")


def test_threshold_makes_the_whole_order_free(store):
    s = dataclasses.replace(store, free_shipping_threshold=99)
    cheap = shipping_fee(s, destination="北京", items=[NOT_FREE])
    assert cheap.fee == Decimal("6.00")
    big = shipping_fee(s, destination="北京", items=[FeeItem(300, 1, False, yuan(120))])
    assert big.free_shipping and big.fee == 0
    exactly = shipping_fee(s, destination="北京", items=[NOT_FREE], goods_amount=yuan(99))
    assert exactly.fee == 0
    # a free-shipping item stays free below the threshold
    assert shipping_fee(s, destination="北京", items=[FREE]).fee == 0


def test_store_that_does_not_ship_free(store):
    s = dataclasses.replace(store, free_shipping=False)
    assert shipping_fee(s, destination="北京").fee == Decimal("6.00")
    assert shipping_fee(store, destination="北京").fee == 0  # no items: the store-wide rule


@pytest.mark.parametrize(
    "city,grams,expected",
    [
        ("杭州", 60, "14"),
        ("上海", 1000, "14"),
        ("苏州", 1001, "22"),
        ("江浙沪", 2500, "30"),
        ("北京", 60, "22"),
        ("广州", 1000, "22"),
        ("成都", 1500, "30"),
        ("北京", 2500, "38"),
        ("乌鲁木齐", 500, "22"),  # the courier's far price; no remote surcharge on top
    ],
)
def test_specified_courier_surcharge_near_and_far_with_extra_kg(store, city, grams, expected):
    q = shipping_fee(store, destination=city, items=[FeeItem(grams, 1, True)], courier="顺丰")
    assert q.courier == "顺丰速运" and q.specified and q.available
    assert q.fee == Decimal(expected)
    assert q.extra_kg == max(0, -(-grams // 1000) - 1)
    assert q.free_shipping  # the goods still ship free with the default courier


def test_weight_counts_quantity(store):
    q = shipping_fee(store, destination="北京", items=[FeeItem(400, 3, True)], courier="SF")
    assert q.weight_kg == 2 and q.fee == Decimal("30.00")
    assert shipping_fee(store, destination="北京", weight_g=3200, courier="顺丰速运").fee == Decimal("46.00")


def test_specified_courier_not_available(store):
    s = dataclasses.replace(store, specified_courier=SpecifiedCourier("not_available", "顺丰速运", "江浙沪", 14, 22, 8))
    q = shipping_fee(s, destination="杭州", items=[FREE], courier="顺丰")
    assert not q.available and q.reason == "courier_not_available" and q.fee is None
    assert q.free_shipping  # still free with the default courier


def test_specified_courier_free_policy(store):
    s = dataclasses.replace(store, specified_courier=SpecifiedCourier("free", "顺丰速运", "江浙沪", 14, 22, 8))
    assert shipping_fee(s, destination="北京", items=[FREE], courier="顺丰").fee == 0
    assert shipping_fee(s, destination="北京", items=[NOT_FREE], courier="顺丰").fee == Decimal("6.00")


def test_courier_the_store_does_not_use(store):
    q = shipping_fee(store, destination="杭州", items=[FREE], courier="韵达")
    assert not q.available and q.reason == "courier_not_offered" and q.fee is None and q.courier == "韵达"


def test_other_listed_courier_ships_on_standard_terms(store):
    q = shipping_fee(store, destination="杭州", items=[FREE], courier="圆通")
    assert q.courier == "圆通速递" and q.fee == 0 and not q.specified


def test_unknown_destination_uses_far_price_and_no_remote_fee(store):
    q = shipping_fee(store, destination="火星", items=[FREE], courier="顺丰")
    assert not q.destination_known and q.fee == Decimal("22.00")
    assert shipping_fee(store, destination=None, items=[FREE]).fee == 0


@pytest.mark.parametrize(
    "place,region,days,warehouse_city",
    [
        ("杭州", "江浙沪", "1-2", "杭州"),
        ("上海市", "江浙沪", "1-2", "杭州"),
        ("合肥", "华东", "2-3", "杭州"),
        ("广州", "华南", "2-3", "东莞"),
        ("北京", "华北", "2-4", "天津"),
        ("成都", "西南", "3-5", "成都"),
        ("乌鲁木齐", "偏远地区", "5-7", "成都"),
        ("火星", "default", "2-4", "杭州"),
    ],
)
def test_transit_estimate_by_region(store, place, region, days, warehouse_city):
    t = transit_estimate(store, place)
    assert (t.region, t.days, t.warehouse_city) == (region, days, warehouse_city)
    lo, hi = days.split("-")
    assert (t.min_days, t.max_days) == (int(lo), int(hi))
    assert t.guaranteed is False
    assert (t.ship_within_hours, t.ship_max_hours) == (24, 48)


def test_transit_marks_remote_areas(store):
    assert transit_estimate(store, "拉萨").remote and not transit_estimate(store, "杭州").remote
