"""The follow-up scan (issue 11, deskcpu) reads only the orders a job may still be due for,
order rows without items or tracking, and does not try again the keys it scheduled
before: the same jobs as reading every order, with less read every minute."""

from __future__ import annotations

from datetime import timedelta

import pytest
from followup_helpers import T0, FakeChannel, new_order

from followup import Scheduler
from followup.db import open_followup_db
from shop.status import OrderStatus

D, U, P = OrderStatus.DELIVERED, OrderStatus.UNPAID, OrderStatus.PAID


class EveryOrderShop:
    """The same shop without follow_up_orders(): a shop adapter that can only list every order."""

    def __init__(self, shop) -> None:
        self._shop = shop

    def __getattr__(self, name):
        if name == "follow_up_orders":
            raise AttributeError(name)
        return getattr(self._shop, name)


async def _orders(shop, clock) -> None:
    await new_order(shop, clock, "DD20261101001", status=D, at=T0 - timedelta(days=12))  # 回访 long past
    await new_order(shop, clock, "DD20261118001", status=D, at=T0 - timedelta(days=2))
    await new_order(shop, clock, "DD20261120001", status=D, at=T0)
    await new_order(shop, clock, "DD20261120002", status=U, at=T0 - timedelta(hours=1))
    await new_order(shop, clock, "DD20261105001", status=U, at=T0 - timedelta(days=9))  # 催付 long past
    await new_order(shop, clock, "DD20261120003", status=P, at=T0)  # paid, not delivered: nothing yet


@pytest.mark.asyncio
async def test_the_scan_schedules_what_reading_every_order_schedules(config, shop, clock, tmp_path):
    await _orders(shop, clock)
    jobs = {}
    for name, backend in (("due_only", shop), ("every_order", EveryOrderShop(shop))):
        engine = await open_followup_db(f"sqlite+aiosqlite:///{tmp_path}/{name}.db")
        s = Scheduler(config, engine, FakeChannel(), shop=backend, clock=clock)
        first = await s.scan()
        again = await s.scan()  # nothing new: nothing scheduled twice
        jobs[name] = (first, again, sorted((j["key"], j["due_at"]) for j in await s.jobs()))
        await engine.dispose()
    assert jobs["due_only"] == jobs["every_order"]
    first, again, keys = jobs["due_only"]
    assert [k for k, _ in keys] == [
        "delivery_check:DD20261118001",
        "delivery_check:DD20261120001",
        "unpaid:DD20261120002",
    ]
    assert first["delivery_check"] == 2 and first["unpaid_reminder"] == 1
    assert again["delivery_check"] == 0 and again["unpaid_reminder"] == 0


@pytest.mark.asyncio
async def test_the_shop_lists_only_orders_a_follow_up_may_be_due_for(shop, clock):
    await _orders(shop, clock)
    since = T0 - timedelta(days=7)
    listed = await shop.follow_up_orders(since)
    assert [o.order_id for o in listed] == ["DD20261118001", "DD20261120001", "DD20261120002"]  # by creation
    delivered = next(o for o in listed if o.order_id == "DD20261120001")
    assert delivered.status == "delivered" and delivered.delivered_at == T0 and delivered.buyer_id == "buyer_001"
