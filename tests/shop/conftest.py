"""Fixtures for the shop backend tests: a pinned store config and a small in-memory shop."""
from __future__ import annotations

import dataclasses
import sys
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
import pytest_asyncio

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from shop.models import (  # noqa: E402
    AddressInput, BuyerInput, Coupon, FaqEntry, Gender, Product, Promotion, Sku, TrackingEvent, yuan,
)
from shop.sql import SqlShop  # noqa: E402
from shop.status import OrderStatus  # noqa: E402
from xiaoer.store_config import SpecifiedCourier, load_store  # noqa: E402

T0 = datetime(2024, 11, 20, 7, 0, tzinfo=timezone.utc)  # 15:00 in Shanghai


@pytest.fixture
def store():
    """store.yml with the shipping and return rules these tests are written against pinned,
    so a shop owner's edit of store.yml does not change what the tests mean."""
    base = load_store()
    return dataclasses.replace(
        base,
        couriers=["中通快递", "圆通速递", "顺丰速运", "京东快递"],
        default_courier="中通快递",
        courier_aliases={"中通": "中通快递", "圆通": "圆通速递", "顺丰": "顺丰速运", "SF": "顺丰速运", "sf": "顺丰速运"},
        ship_within_hours=24, ship_max_hours=48,
        transit_days={"江浙沪": "1-2", "华东": "2-3", "华南": "2-3", "华北": "2-4", "西南": "3-5", "偏远地区": "5-7",
                      "default": "2-4"},
        regions={"江浙沪": ["浙江", "江苏", "上海"], "华东": ["安徽", "江西", "福建", "山东"],
                 "华南": ["广东", "广西", "海南", "湖南"],
                 "华北": ["北京", "天津", "河北", "山西", "河南", "辽宁", "吉林", "黑龙江"],
                 "西南": ["四川", "重庆", "云南", "贵州", "湖北", "陕西"],
                 "偏远地区": ["新疆", "西藏", "青海", "内蒙古", "甘肃", "宁夏"]},
        free_shipping=True, free_shipping_threshold=0, base_fee=6,
        remote_areas=["新疆", "西藏", "青海", "内蒙古", "甘肃", "宁夏"], remote_surcharge=10,
        specified_courier=SpecifiedCourier("surcharge", "顺丰速运", "江浙沪", 14, 22, 8),
        return_window_days=7, quality_return_shipping="store", nonquality_return_shipping="buyer",
        nonquality_original_shipping="buyer", refund_days="1-3", warranty_months=12,
    )


def catalogue():
    promo = Promotion("秋季焕新季", T0 - timedelta(days=3), T0 + timedelta(days=2), Coupon(yuan(49), yuan(5)))
    cable = Product(
        product_id="P100", name="星耀编织数据线", category="数据线", price=yuan("29.9"), free_shipping=True,
        weight_g=60, promotion=promo, specs={"接口": "USB-C转Lightning", "材质": "尼龙编织"},
        faq=(FaqEntry("支持快充吗?", "支持PD 20W快充。"),),
        skus=(
            Sku("P100-01", "P100", "白色", "1米", yuan("29.9"), 100, promo_price=yuan("24.9")),
            Sku("P100-02", "P100", "黑色", "1米", yuan("29.9"), 0, promo_price=yuan("24.9"),
                restock_date=date(2024, 11, 25)),
            Sku("P100-03", "P100", "白色", "2米", yuan("35.9"), 50, promo_price=yuan("30.9")),
            Sku("P100-04", "P100", "蓝色", "1米", yuan("29.9"), 5, promo_price=yuan("24.9")),
        ),
    )
    cable2 = Product(
        product_id="P101", name="星耀双Type-C快充数据线", category="数据线", price=yuan("25.9"), free_shipping=True,
        weight_g=70, skus=(Sku("P101-01", "P101", "黑色", "1米", yuan("25.9"), 30),),
    )
    adapter = Product(
        product_id="P200", name="星耀OTG转接头", category="转接头", price=yuan("9.9"), free_shipping=False,
        weight_g=30, skus=(Sku("P200-01", "P200", "灰色", None, yuan("9.9"), 10),),
    )
    return [cable, cable2, adapter]


ALICE = BuyerInput(
    buyer_id="buyer_001", name="张伟", gender=Gender.MALE, phone="13812345678",
    addresses=(AddressInput("张伟", "13812345678", "浙江省", "杭州市", "西湖区", "文三路90号3幢501室"),),
)
BOB = BuyerInput(
    buyer_id="buyer_002", name="李娜", gender=Gender.FEMALE, phone="13998765432",
    addresses=(AddressInput("李娜", "13998765432", "广东省", "深圳市", "南山区", "科技园南路18号"),),
)


async def _seed(shop: SqlShop) -> dict:
    await shop.put_products(catalogue())
    await shop.put_buyer(ALICE)
    await shop.put_buyer(BOB)
    ids = {}

    async def order(key, oid, buyer, status, at, items=(("P100-01", 1),)):
        await shop.create_order(order_id=oid, buyer_id=buyer, items=list(items), at=at)
        t = at
        path = {
            OrderStatus.UNPAID: [],
            OrderStatus.PAID: [OrderStatus.PAID],
            OrderStatus.IN_TRANSIT: [OrderStatus.PAID, OrderStatus.SHIPPED, OrderStatus.IN_TRANSIT],
            OrderStatus.DELIVERED: [OrderStatus.PAID, OrderStatus.SHIPPED, OrderStatus.IN_TRANSIT,
                                    OrderStatus.DELIVERED],
        }[status]
        for st in path:
            t += timedelta(hours=6)
            details = {}
            if st == OrderStatus.SHIPPED:
                details = {"courier": "中通快递", "tracking_no": "75" + oid[-13:].rjust(13, "0")}
                await shop.add_tracking(oid, TrackingEvent(t, "杭州市", "杭州转运中心", "【杭州市】已揽收", "collected"))
            if st == OrderStatus.IN_TRANSIT:
                await shop.add_tracking(oid, TrackingEvent(t, "杭州市", "杭州转运中心", "【杭州市】已发出", "departed"))
            if st == OrderStatus.DELIVERED:
                details = {"signed_by": "家人"}
                await shop.add_tracking(oid, TrackingEvent(t, "杭州市", "西湖区营业部", "【杭州市】已签收,签收人:家人",
                                                           "signed"))
            await shop.advance(oid, st, at=t, by="store", **details)
        ids[key] = oid

    await order("a_unpaid", "DD20241118001", "buyer_001", OrderStatus.UNPAID, T0 - timedelta(hours=3))
    await order("a_paid", "DD20241117001", "buyer_001", OrderStatus.PAID, T0 - timedelta(days=3),
                items=(("P100-01", 1), ("P200-01", 2)))
    await order("a_transit", "1234567890123456789", "buyer_001", OrderStatus.IN_TRANSIT, T0 - timedelta(days=4))
    await order("a_delivered", "DD20241110002", "buyer_001", OrderStatus.DELIVERED, T0 - timedelta(days=5))
    await order("b_paid", "DD20241117002", "buyer_002", OrderStatus.PAID, T0 - timedelta(days=2))
    await order("b_delivered", "9876543210987654", "buyer_002", OrderStatus.DELIVERED, T0 - timedelta(days=6))
    return ids


@pytest_asyncio.fixture
async def shop():
    s = SqlShop("sqlite+aiosqlite://", clock=lambda: T0)
    await s.start()
    s.ids = await _seed(s)
    try:
        yield s
    finally:
        await s.close()
