"""Fixtures: a fake clock, an in-memory shop, schedulers over one test database."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import pytest_asyncio

HERE = Path(__file__).resolve().parent
for p in (HERE.parents[1], HERE.parents[1] / "tests" / "shop", HERE):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

from followup_helpers import T0, Clock, FakeChannel  # noqa: E402
from shop_helpers import ALICE, BOB, catalogue  # noqa: E402

from followup import Scheduler, load_config, open_followup_db  # noqa: E402
from shop.sql import ShopData, SqlShop  # noqa: E402


@pytest.fixture
def clock():
    return Clock(T0)


@pytest.fixture
def config(tmp_path):
    # pinned values so an edit of followup/config.yml does not change what the tests mean
    return load_config(db_url=f"sqlite+aiosqlite:///{tmp_path}/followup.db").with_(
        delivery_check_minutes=2880,
        unpaid_minutes={"default": 60, "pdd": 30},
        remind_before_minutes=30,
        quiet_enabled=True,
        quiet_windows=["22:00-07:00", "11:30-13:00", "17:30-19:00"],
        rate_max=2,
        rate_hours=24,
        lease_seconds=120,
        expire_after_hours=168,
        tell_shopper_when_late=True,
    )


@pytest_asyncio.fixture
async def shop(clock):
    s = SqlShop("sqlite+aiosqlite://", clock=clock)
    await s.start()
    await s.load(ShopData(products=catalogue(), buyers=[ALICE, BOB], orders=[]))  # orders: each test its own
    yield s
    await s.close()


@pytest_asyncio.fixture
async def make(config, shop, clock):
    """make(channel=None, owner=None) -> a Scheduler over the test DB (several allowed)."""
    engines = []

    async def factory(channel=None, owner=None, cfg=None):
        engine = await open_followup_db((cfg or config).db_url)
        engines.append(engine)
        return Scheduler(cfg or config, engine, channel or FakeChannel(), shop=shop, clock=clock, owner=owner)

    yield factory
    for e in engines:
        await e.dispose()
