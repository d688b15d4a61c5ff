"""Test data: pure order builders and the small store the backend tests load."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, timedelta, timezone
from typing import Optional

from shop.masking import masked_address
from shop.models import (
    AddressInput,
    BuyerInput,
    Coupon,
    FaqEntry,
    Gender,
    Order,
    OrderItem,
    Product,
    Promotion,
    Sku,
    TrackingEvent,
    yuan,
)
from shop.sql import ShopData
from shop.status import EVENT_CREATED, OrderEvent, OrderStatus, apply, transition

T0 = datetime(2024, 11, 20, 7, 0, tzinfo=timezone.utc)  # 15:00 in Shanghai

S = OrderStatus
ADDRESS = AddressInput("张伟", "13812345678", "浙江省", "杭州市", "西湖区", "文三路90号3幢501室")
DETAILS = {S.SHIPPED: {"courier": "中通快递", "tracking_no": "75312345678901"}, S.DELIVERED: {"signed_by": "本人"}}
# the shortest way from unpaid to each status
PATHS = {
    S.UNPAID: [],
    S.PAID: [S.PAID],
    S.SHIPPED: [S.PAID, S.SHIPPED],
    S.IN_TRANSIT: [S.PAID, S.SHIPPED, S.IN_TRANSIT],
    S.OUT_FOR_DELIVERY: [S.PAID, S.SHIPPED, S.IN_TRANSIT, S.OUT_FOR_DELIVERY],
    S.DELIVERED: [S.PAID, S.SHIPPED, S.IN_TRANSIT, S.OUT_FOR_DELIVERY, S.DELIVERED],
    S.COMPLETED: [S.PAID, S.SHIPPED, S.DELIVERED, S.COMPLETED],
    S.CANCELLED: [S.CANCELLED],
    S.REFUND_REQUESTED: [S.PAID, S.REFUND_REQUESTED],
    S.RETURNING: [S.PAID, S.SHIPPED, S.DELIVERED, S.REFUND_REQUESTED, S.RETURNING],
    S.REFUNDED: [S.PAID, S.REFUND_REQUESTED, S.REFUNDED],
    S.CLOSED: [S.CLOSED],
}


def new_order(created: datetime, order_id: str = "DD20241101001") -> Order:
    item = OrderItem("P100", "P100-01", "星耀编织数据线", "白色 / 1米", 1, yuan("29.9"), 60, True)
    return Order(
        order_id=order_id,
        buyer_id="buyer_001",
        status=S.UNPAID,
        items=(item,),
        goods_amount=yuan("29.9"),
        shipping_fee=yuan(0),
        discount=yuan(0),
        total=yuan("29.9"),
        ship_to=masked_address(ADDRESS),
        created_at=created,
        updated_at=created,
        events=(OrderEvent(EVENT_CREATED, order_id, created, "buyer", None, S.UNPAID),),
    )


def order_in(
    status: OrderStatus,
    created: datetime,
    step: timedelta = timedelta(hours=5),
    delivered_at: Optional[datetime] = None,
) -> Order:
    """An order walked to `status`; `delivered_at` pins the signing time."""
    order = new_order(created)
    t = created
    for st in PATHS[status]:
        t = t + step
        if st == S.DELIVERED and delivered_at is not None:
            t = delivered_at
        order = apply(order, transition(order, st, at=t, by="test", **DETAILS.get(st, {})))
    return order


# ---- the small store of the backend tests ------------------------------------------


def catalogue():
    promo = Promotion("秋季焕新季", T0 - timedelta(days=3), T0 + timedelta(days=2), Coupon(yuan(49), yuan(5)))
    cable = Product(
        product_id="P100",
        name="星耀编织数据线",
        category="数据线",
        price=yuan("29.9"),
        free_shipping=True,
        weight_g=60,
        promotion=promo,
        specs={"接口": "USB-C转Lightning", "材质": "尼龙编织"},
        faq=(FaqEntry("支持快充吗?", "支持PD 20W快充。"),),
        skus=(
            Sku("P100-01", "P100", "白色", "1米", yuan("29.9"), 100, promo_price=yuan("24.9")),
            Sku(
                "P100-02",
                "P100",
                "黑色",
                "1米",
                yuan("29.9"),
                0,
                promo_price=yuan("24.9"),
                restock_date=date(2024, 11, 25),
            ),
            Sku("P100-03", "P100", "白色", "2米", yuan("35.9"), 50, promo_price=yuan("30.9")),
            Sku("P100-04", "P100", "蓝色", "1米", yuan("29.9"), 5, promo_price=yuan("24.9")),
        ),
    )
    cable2 = Product(
        product_id="P101",
        name="星耀双Type-C快充数据线",
        category="数据线",
        price=yuan("25.9"),
        free_shipping=True,
        weight_g=70,
        skus=(Sku("P101-01", "P101", "黑色", "1米", yuan("25.9"), 30),),
    )
    adapter = Product(
        product_id="P200",
        name="星耀OTG转接头",
        category="转接头",
        price=yuan("9.9"),
        free_shipping=False,
        weight_g=30,
        skus=(Sku("P200-01", "P200", "灰色", None, yuan("9.9"), 10),),
    )
    return [cable, cable2, adapter]


ALICE = BuyerInput(
    buyer_id="buyer_001",
    name="张伟",
    gender=Gender.MALE,
    phone="13812345678",
    addresses=(AddressInput("张伟", "13812345678", "浙江省", "杭州市", "西湖区", "文三路90号3幢501室"),),
)
BOB = BuyerInput(
    buyer_id="buyer_002",
    name="李娜",
    gender=Gender.FEMALE,
    phone="13998765432",
    addresses=(AddressInput("李娜", "13998765432", "广东省", "深圳市", "南山区", "科技园南路18号"),),
)


def _order(oid, buyer: BuyerInput, status: OrderStatus, created: datetime, items=(("P100-01", 1),)):
    """An order walked to `status` in 6-hour steps with matching tracking events (pure, for bulk loading)."""
    skus = {s.sku_id: (p, s) for p in catalogue() for s in p.skus}
    lines = []
    for sku_id, qty in items:
        p, s = skus[sku_id]
        lines.append(OrderItem(p.product_id, sku_id, p.name, s.spec, qty, s.price, p.weight_g, p.free_shipping))
    goods = yuan(sum((i.amount for i in lines), yuan(0)))
    address = buyer.addresses[0]
    order = Order(
        order_id=oid,
        buyer_id=buyer.buyer_id,
        status=OrderStatus.UNPAID,
        items=tuple(lines),
        goods_amount=goods,
        shipping_fee=yuan(0),
        discount=yuan(0),
        total=goods,
        ship_to=masked_address(address),
        created_at=created,
        updated_at=created,
        events=(OrderEvent(EVENT_CREATED, oid, created, "buyer", None, OrderStatus.UNPAID),),
    )
    path = {
        OrderStatus.UNPAID: [],
        OrderStatus.PAID: [OrderStatus.PAID],
        OrderStatus.IN_TRANSIT: [OrderStatus.PAID, OrderStatus.SHIPPED, OrderStatus.IN_TRANSIT],
        OrderStatus.DELIVERED: [OrderStatus.PAID, OrderStatus.SHIPPED, OrderStatus.IN_TRANSIT, OrderStatus.DELIVERED],
    }[status]
    t, tracking = created, []
    for st in path:
        t += timedelta(hours=6)
        details = {}
        if st == OrderStatus.SHIPPED:
            details = {"courier": "中通快递", "tracking_no": "75" + oid[-13:].rjust(13, "0")}
            tracking.append(TrackingEvent(t, "杭州市", "杭州转运中心", "【杭州市】已揽收", "collected"))
        if st == OrderStatus.IN_TRANSIT:
            tracking.append(TrackingEvent(t, "杭州市", "杭州转运中心", "【杭州市】已发出", "departed"))
        if st == OrderStatus.DELIVERED:
            details = {"signed_by": "家人"}
            tracking.append(TrackingEvent(t, "杭州市", "西湖区营业部", "【杭州市】已签收,签收人:家人", "signed"))
        order = apply(order, transition(order, st, at=t, by="store", **details))
    return dataclasses.replace(order, tracking=tuple(tracking)), address


ORDERS = {  # key: (order id, buyer, status, created)
    "a_unpaid": ("DD20241118001", ALICE, OrderStatus.UNPAID, T0 - timedelta(hours=3), (("P100-01", 1),)),
    "a_paid": ("DD20241117001", ALICE, OrderStatus.PAID, T0 - timedelta(days=3), (("P100-01", 1), ("P200-01", 2))),
    "a_transit": ("1234567890123456789", ALICE, OrderStatus.IN_TRANSIT, T0 - timedelta(days=4), (("P100-01", 1),)),
    "a_delivered": ("DD20241110002", ALICE, OrderStatus.DELIVERED, T0 - timedelta(days=5), (("P100-01", 1),)),
    "b_paid": ("DD20241117002", BOB, OrderStatus.PAID, T0 - timedelta(days=2), (("P100-01", 1),)),
    "b_delivered": ("9876543210987654", BOB, OrderStatus.DELIVERED, T0 - timedelta(days=6), (("P100-01", 1),)),
}


def shop_data() -> ShopData:
    return ShopData(
        products=catalogue(),
        buyers=[ALICE, BOB],
        orders=[_order(oid, b, st, at, items) for oid, b, st, at, items in ORDERS.values()],
    )


class FakeShop:
    """Stands for a real shop's backend class named in XIAOER_SHOP_BACKEND."""
