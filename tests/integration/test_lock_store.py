"""rasa_ext.stores.LeasedRedisLockStore on a real Redis: a worker killed while it
holds a conversation's ticket blocks that conversation for at most the lease
(Rasa's own tickets: 60 s), and a live worker that works longer than the lease
keeps its ticket. Skips without redis-server (scripts/ensure-services.sh)."""

from __future__ import annotations

import asyncio
import shutil
import time

import pytest

from tests.integration.procs import redis_server

pytestmark = pytest.mark.skipif(
    shutil.which("redis-server") is None, reason="redis-server not installed (scripts/ensure-services.sh installs it)"
)


@pytest.fixture(scope="module")
def redis_port():
    with redis_server() as port:
        yield port


def store(port, **kw):
    from rasa.utils.endpoints import EndpointConfig

    from rasa_ext.stores import LeasedRedisLockStore

    return LeasedRedisLockStore(
        EndpointConfig(url="127.0.0.1", port=port, db=1, key_prefix="test", lock_lifetime=1.0, renew_seconds=0.2, **kw)
    )


def test_a_dead_workers_ticket_is_gone_after_the_lease(redis_port):
    dead, live = store(redis_port), store(redis_port)
    # what a worker killed mid-turn leaves behind: a ticket that nobody renews or returns
    dead.issue_ticket("conv-1", dead.lock_lifetime)

    async def take():
        t0 = time.monotonic()
        async with live.lock("conv-1"):
            return time.monotonic() - t0

    waited = asyncio.run(take())
    assert 0.5 < waited < 2.5, waited  # the 1 s lease, not Rasa's 60 s


def test_a_live_worker_keeps_its_ticket_past_the_lease(redis_port):
    a, b = store(redis_port), store(redis_port)
    order = []

    async def slow_turn():
        async with a.lock("conv-2"):
            order.append("a starts")
            await asyncio.sleep(2.5)  # longer than the lease: renewed meanwhile
            order.append("a ends")

    async def next_turn():
        await asyncio.sleep(0.2)
        async with b.lock("conv-2"):
            order.append("b starts")

    async def both():
        await asyncio.gather(slow_turn(), next_turn())

    asyncio.run(both())
    assert order == ["a starts", "a ends", "b starts"]
