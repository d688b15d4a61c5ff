"""How long the supervisor's report (desk/reports.py) and a text search (desk/history.py)
take on a desk database of a busy shop: N conversations over 14 days, each with 8
messages, a third handed to a person (queued, answered, resolved, rated).

    .venv/bin/python benchmarks/desk_reports.py                 # N = 2000, 10000
    .venv/bin/python benchmarks/desk_reports.py --n 50000

Baseline: the report of a shop with 2000 conversations a fortnight, the size the demo shop
reaches, should answer well inside a second; the figures below say how it grows.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from desk import db, history, reports  # noqa: E402
from desk.db import open_engine  # noqa: E402

START = datetime(2026, 11, 1, 1, 0, tzinfo=timezone.utc)
LADDER = [{"label": f"step{i}"} for i in range(6)]


async def seed(engine, n: int) -> None:
    rnd = random.Random(13)
    convs, msgs, evs, rts = [], [], [], []
    for i in range(n):
        cid, t = f"c{i}", START + timedelta(minutes=rnd.randrange(14 * 24 * 60))
        convs.append(
            dict(
                id=cid,
                buyer_id=f"b{i % (n // 2 or 1)}",
                status="bot",
                created_at=t,
                updated_at=t,
                for_supervisor=False,
                overdue=False,
                awaiting_rating=False,
            )
        )
        for k in range(8):
            msgs.append(
                dict(
                    conversation_id=cid,
                    sender="shopper" if k % 2 == 0 else "bot",
                    text=f"订单DD2026110{i:07d}的耳机第{k}句",
                    data={},
                    created_at=t + timedelta(seconds=20 * k),
                )
            )
        if i % 3 == 0:
            q = t + timedelta(minutes=3)
            evs += [
                dict(
                    conversation_id=cid,
                    name="conversation.queued",
                    actor="bot",
                    data={"reason": "complaint" if i % 2 else "request_human", "category": "商品质量"},
                    created_at=q,
                ),
                dict(
                    conversation_id=cid,
                    name="conversation.resolved",
                    actor="agent8",
                    data={},
                    created_at=q + timedelta(minutes=rnd.randrange(5, 90)),
                ),
            ]
            msgs.append(
                dict(
                    conversation_id=cid,
                    sender="agent",
                    text="您好",
                    data={},
                    created_at=q + timedelta(seconds=rnd.randrange(20, 600)),
                )
            )
            rts.append(
                dict(
                    conversation_id=cid,
                    agent_id=1,
                    score=rnd.randrange(1, 6),
                    comment="",
                    created_at=q + timedelta(hours=2),
                )
            )
    async with engine.begin() as conn:
        for table, rows in ((db.conversations, convs), (db.messages, msgs), (db.events, evs), (db.ratings, rts)):
            for k in range(0, len(rows), 5000):
                await conn.execute(table.insert(), rows[k : k + 5000])


async def run(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        engine = await open_engine(f"sqlite+aiosqlite:///{Path(tmp) / 'desk.db'}")
        await seed(engine, n)
        rng = reports.Range("day", date(2026, 11, 1), date(2026, 11, 14))
        timings = {}
        for name, call in (
            ("report per day, 14 days", lambda: reports.report(engine, rng, LADDER)),
            ("report per week", lambda: reports.report(engine, reports.Range("week", rng.first, rng.last), LADDER)),
            (
                "search text",
                lambda: history.search(engine, history.Query(text="第3句"), {"id": 1, "role": "supervisor"}),
            ),
            (
                "search order number",
                lambda: history.search(
                    engine, history.Query(order=f"DD2026110{n // 2:07d}"), {"id": 1, "role": "supervisor"}
                ),
            ),
            ("resolved list", lambda: history.resolved(engine, {"id": 1, "role": "supervisor"})),
        ):
            runs = []
            for _ in range(3):
                t = time.perf_counter()
                await call()
                runs.append(time.perf_counter() - t)
            timings[name] = min(runs)
        await engine.dispose()
    print(f"N = {n} conversations ({n * 8 + n // 3} messages)")
    for name, s in timings.items():
        print(f"  {name:<24} {s * 1000:8.0f} ms")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, action="append")
    for n in p.parse_args().n or [2000, 10000]:
        asyncio.run(run(n))


if __name__ == "__main__":
    main()
