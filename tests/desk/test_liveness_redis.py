"""Review item D7 (issue 11): a desk holds one Redis client, the hub's; the recovery
heartbeat rides on it. On a real Redis: two desks see each other alive, a desk that
stops cleanly is gone at once, the hub still delivers between them, and a desk alone
(no hub URL) has no Redis at all. Skips without redis-server."""

from __future__ import annotations

import asyncio
import shutil

import pytest

from desk.hub import Hub
from desk.recovery import KEY, Liveness
from tests.integration.procs import redis_server

needs_redis = pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server not installed")


@pytest.fixture(scope="module")
def redis_url():
    with redis_server() as port:
        yield f"redis://127.0.0.1:{port}/3"


class FakeSocket:
    closed = False

    def __init__(self) -> None:
        self.got = []

    async def send_str(self, text: str) -> None:
        self.got.append(text)

    async def close(self) -> None:
        self.closed = True


async def _desk(url: str):
    hub = Hub(url, channel="test:liveness")
    await hub.start()
    liveness = Liveness(hub)
    await liveness.start()
    return hub, liveness


@needs_redis
async def test_two_desks_share_one_client_each_and_see_each_other(redis_url):
    (hub_a, live_a), (hub_b, live_b) = await _desk(redis_url), await _desk(redis_url)
    try:
        assert live_a._redis is hub_a.redis and live_b._redis is hub_b.redis  # one client per desk
        for _ in range(40):  # the first beats
            if await live_a.alive(hub_b.node) and await live_b.alive(hub_a.node):
                break
            await asyncio.sleep(0.05)
        assert await live_a.alive(hub_b.node) is True
        assert await live_b.alive(hub_a.node) is True
        assert await live_a.alive("a-desk-that-never-was") is False
        # the hub still delivers over the same client: a shopper on desk B sees desk A's message
        ws = FakeSocket()
        hub_b.shoppers["conv-1"].add(ws)
        await hub_a.to_shopper("conv-1", {"type": "message", "message": {"text": "亲,在的"}})
        for _ in range(40):
            if ws.got:
                break
            await asyncio.sleep(0.05)
        assert ws.got and "亲,在的" in ws.got[0]
    finally:
        await live_b.close()
        await hub_b.close_all()
    # B stopped cleanly: gone at once for A, not after the lease
    assert await live_a.alive(hub_b.node) is False
    assert await hub_a.redis.exists(KEY + hub_b.node) == 0
    await live_a.close()
    await hub_a.close_all()
    assert hub_a.redis is None


async def test_a_desk_alone_has_no_redis():
    hub = Hub("")
    await hub.start()
    liveness = Liveness(hub)
    await liveness.start()
    assert hub.redis is None and liveness._task is None
    assert await liveness.alive(hub.node) is True
    assert await liveness.alive("another-process") is False  # one desk alone: any other is gone
    await liveness.close()
    await hub.close_all()
