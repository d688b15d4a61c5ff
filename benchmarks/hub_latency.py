"""How fast an update reaches another desk process: Redis pub/sub (what desk/hub.py
uses) against PostgreSQL LISTEN/NOTIFY, the other candidate. One publisher and one
subscriber connection, messages the size of a desk update (~1 KB of Chinese JSON).

    .venv/bin/python benchmarks/hub_latency.py            # against `make run-scaled`'s servers
    .venv/bin/python benchmarks/hub_latency.py --redis redis://127.0.0.1:6379/2 \\
        --pg postgresql://xiaoer:PW@127.0.0.1:5432/desk --n 500
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAYLOAD = json.dumps(
    {
        "type": "message",
        "conversation_id": "c" * 32,
        "message": {"id": 1, "sender": "bot", "text": "亲,您的订单已经发货啦,预计明天送达。" * 12},
    },
    ensure_ascii=False,
)


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))]


async def bench_redis(url: str, n: int):
    import redis.asyncio as redis

    pub, sub = redis.from_url(url), redis.from_url(url)
    ps = sub.pubsub(ignore_subscribe_messages=True)
    await ps.subscribe("bench")
    lat = []
    for _i in range(n):
        t0 = time.perf_counter()
        await pub.publish("bench", PAYLOAD)
        while True:
            m = await ps.get_message(timeout=5)
            if m:
                break
        lat.append(time.perf_counter() - t0)
    await ps.close()
    await pub.close()
    await sub.close()
    return lat


async def bench_pg(url: str, n: int):
    import asyncpg

    pub, sub = await asyncpg.connect(url), await asyncpg.connect(url)
    q: asyncio.Queue = asyncio.Queue()
    await sub.add_listener("bench", lambda *a: q.put_nowait(a[-1]))
    lat = []
    for _i in range(n):
        t0 = time.perf_counter()
        await pub.execute("SELECT pg_notify('bench', $1)", PAYLOAD)
        await asyncio.wait_for(q.get(), 5)
        lat.append(time.perf_counter() - t0)
    await pub.close()
    await sub.close()
    return lat


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--redis")
    ap.add_argument("--pg")
    ap.add_argument("--n", type=int, default=500)
    a = ap.parse_args()
    if not (a.redis and a.pg):
        s = ROOT / "var" / "scaled"
        ports = dict(line.split("=") for line in (s / "ports.env").read_text().split())
        a.redis = a.redis or f"redis://127.0.0.1:{ports['XIAOER_REDIS_PORT']}/2"
        a.pg = (
            a.pg
            or f"postgresql://xiaoer:{(s / 'pg_password').read_text().strip()}@127.0.0.1:{ports['XIAOER_PG_PORT']}/desk"
        )
    print(f"{a.n} updates of {len(PAYLOAD.encode())} bytes, publish -> received on another connection")
    for name, fn, url in (("redis pub/sub", bench_redis, a.redis), ("pg LISTEN/NOTIFY", bench_pg, a.pg)):
        t0 = time.perf_counter()
        lat = asyncio.run(fn(url, a.n))
        wall = time.perf_counter() - t0
        print(
            f"  {name:<17} p50 {statistics.median(lat) * 1000:6.2f} ms  p95 {pct(lat, 0.95) * 1000:6.2f} ms  "
            f"max {max(lat) * 1000:6.1f} ms  {a.n / wall:6.0f} msg/s sequential"
        )
    print("  baseline: the desk's own budget for 'agent on desk B sees it' is 1000 ms")


if __name__ == "__main__":
    main()
