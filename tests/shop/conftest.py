"""Fixtures for the shop backend tests: a pinned store config and a small in-memory shop."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest
import pytest_asyncio

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
for p in (ROOT, HERE):  # the repository, and shop_helpers next to this file
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

from shop_helpers import ORDERS, T0, shop_data  # noqa: E402

from shop.sql import SqlShop  # noqa: E402
from xiaoer.store_config import SpecifiedCourier, load_store  # noqa: E402


@pytest.fixture(scope="session")
def store():
    """store.yml with the shipping and return rules these tests are written against pinned,
    so a shop owner's edit of store.yml does not change what the tests mean."""
    base = load_store()
    return dataclasses.replace(
        base,
        couriers=["中通快递", "圆通速递", "顺丰速运", "京东快递"],
        default_courier="中通快递",
        courier_aliases={},  # shoppers' spellings (SF, 顺丰...) come from lexicon/entities.yml
        ship_within_hours=24,
        ship_max_hours=48,
        transit_days={
            "江浙沪": "1-2",
            "华东": "2-3",
            "华南": "2-3",
            "华北": "2-4",
            "西南": "3-5",
            "偏远地区": "5-7",
            "default": "2-4",
        },
        regions={
            "江浙沪": ["浙江", "江苏", "上海"],
            "华东": ["安徽", "江西", "福建", "山东"],
            "华南": ["广东", "广西", "海南", "湖南"],
            "华北": ["北京", "天津", "河北", "山西", "河南", "辽宁", "吉林", "黑龙江"],
            "西南": ["四川", "重庆", "云南", "贵州", "湖北", "陕西"],
            "偏远地区": ["新疆", "西藏", "青海", "内蒙古", "甘肃", "宁夏"],
        },
        free_shipping=True,
        free_shipping_threshold=0,
        base_fee=6,
        remote_areas=["新疆", "西藏", "青海", "内蒙古", "甘肃", "宁夏"],
        remote_surcharge=10,
        specified_courier=SpecifiedCourier("surcharge", "顺丰速运", "江浙沪", 14, 22, 8),
        return_window_days=7,
        quality_return_shipping="store",
        nonquality_return_shipping="buyer",
        nonquality_original_shipping="buyer",
        refund_days="1-3",
        warranty_months=12,
    )


@pytest_asyncio.fixture
async def shop():
    s = SqlShop("sqlite+aiosqlite://", clock=lambda: T0)
    await s.start()
    await s.load(shop_data())
    s.ids = {key: v[0] for key, v in ORDERS.items()}
    try:
        yield s
    finally:
        await s.close()
