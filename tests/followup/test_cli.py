"""python -m followup deliver / status: the demo's way to see a 回访 soon."""

from __future__ import annotations

import asyncio

from followup_helpers import T0, Clock
from shop_helpers import ALICE, BOB, catalogue

from followup.__main__ import main
from shop.sql import ShopData, SqlShop
from shop.status import OrderStatus


def test_deliver_signs_an_out_for_delivery_order_now(tmp_path, monkeypatch, capsys):
    url = f"sqlite+aiosqlite:///{tmp_path / 'shop.db'}"

    async def prepare():
        s = SqlShop(url, clock=Clock(T0))
        await s.start()
        await s.load(ShopData(products=catalogue(), buyers=[ALICE, BOB], orders=[]))
        await s.create_order(order_id="DD20261119101", buyer_id="buyer_002", items=[("P100-01", 1)], at=T0)
        for st in (OrderStatus.PAID, OrderStatus.SHIPPED, OrderStatus.IN_TRANSIT, OrderStatus.OUT_FOR_DELIVERY):
            extra = {"courier": "中通快递", "tracking_no": "75300000000009"} if st == OrderStatus.SHIPPED else {}
            await s.advance("DD20261119101", st, at=T0, **extra)
        await s.close()

    asyncio.run(prepare())
    monkeypatch.setenv("XIAOER_SHOP_DB_URL", url)
    monkeypatch.setenv("XIAOER_FOLLOWUP_DB_URL", f"sqlite+aiosqlite:///{tmp_path / 'fu.db'}")
    assert main(["deliver", "dd20261119101"]) == 0
    assert "DD20261119101 delivered to buyer_002" in capsys.readouterr().out
    assert main(["deliver", "DD20261119101"]) == 2  # delivered already
    assert main(["status"]) == 0
    assert "0 jobs, 0 open promises" in capsys.readouterr().out
