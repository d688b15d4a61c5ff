"""Two desk processes over one SQLite follow-up database: every job fires once."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from followup_helpers import T0, Clock, new_order
from shop_helpers import ALICE, BOB, catalogue

from shop.sql import ShopData, SqlShop
from shop.status import OrderStatus

HERE = Path(__file__).resolve().parent


@pytest.mark.asyncio
async def test_two_processes_fire_each_follow_up_once(tmp_path):
    shop_url = f"sqlite+aiosqlite:///{tmp_path / 'shop.db'}"
    clock = Clock(T0)
    shop = SqlShop(shop_url, clock=clock)
    await shop.start()
    await shop.load(ShopData(products=catalogue(), buyers=[ALICE, BOB], orders=[]))
    for n in range(1, 9):
        await new_order(
            shop,
            clock,
            f"DD202611190{n:02d}",
            status=OrderStatus.DELIVERED,
            at=T0,
            buyer="buyer_001" if n % 2 else "buyer_002",
        )
    await shop.close()
    out = tmp_path / "sent.jsonl"
    fu_url = f"sqlite+aiosqlite:///{tmp_path / 'followup.db'}"
    now = (T0 + timedelta(hours=2)).isoformat()
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable, str(HERE / "two_process_worker.py"), shop_url, fu_url, str(out), now, owner
        )
        for owner in ("desk-a", "desk-b")
    ]
    codes = await asyncio.gather(*(p.wait() for p in procs))
    assert codes == [0, 0]
    lines = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    ids = [x["job_id"] for x in lines]
    assert sorted(ids) == list(range(1, 9))  # all eight, none twice
    assert all("您收到货了吗" in x["text"] for x in lines)
