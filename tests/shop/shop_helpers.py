"""Pure order builders for rule tests (no database)."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Optional

from shop.masking import masked_address
from shop.models import AddressInput, Order, OrderItem, yuan
from shop.status import EVENT_CREATED, OrderEvent, OrderStatus, apply, transition

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
    return Order(order_id=order_id, buyer_id="buyer_001", status=S.UNPAID, items=(item,), goods_amount=yuan("29.9"),
                 shipping_fee=yuan(0), discount=yuan(0), total=yuan("29.9"), ship_to=masked_address(ADDRESS),
                 created_at=created, updated_at=created,
                 events=(OrderEvent(EVENT_CREATED, order_id, created, "buyer", None, S.UNPAID),))


def order_in(status: OrderStatus, created: datetime, step: timedelta = timedelta(hours=5),
             delivered_at: Optional[datetime] = None) -> Order:
    """An order walked to `status`; `delivered_at` pins the signing time."""
    order = new_order(created)
    t = created
    for st in PATHS[status]:
        t = t + step
        if st == S.DELIVERED and delivered_at is not None:
            t = delivered_at
        order = apply(order, transition(order, st, at=t, by="test", **DETAILS.get(st, {})))
    return order
