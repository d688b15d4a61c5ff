"""One desk-like process for test_two_processes: scan + tick over shared SQLite
files at a fixed time, deliveries appended to a file (O_APPEND: one line each)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from followup import Delivery, OutboundChannel, Scheduler, load_config, open_followup_db  # noqa: E402
from shop.sql import SqlShop  # noqa: E402


class FileChannel(OutboundChannel):
    name = "file"

    def __init__(self, path: str, owner: str) -> None:
        self.path, self.owner = path, owner

    async def online_buyers(self, buyer_ids):
        return set(buyer_ids)

    async def deliver(self, buyer_id, message, *, job_id, kind, speaker="bot"):
        line = (
            json.dumps(
                {"job_id": job_id, "buyer_id": buyer_id, "by": self.owner, "text": message["text"]}, ensure_ascii=False
            )
            + "\n"
        )
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)
        return Delivery("delivered", f"conv-{buyer_id}")

    async def already_delivered(self, buyer_id, job_id):
        return None


async def main(shop_url: str, fu_url: str, out: str, now: str, owner: str) -> None:
    at = datetime.fromisoformat(now)
    shop = SqlShop(shop_url, clock=lambda: at)
    await shop.start()
    cfg = load_config(db_url=fu_url).with_(quiet_enabled=False, rate_max=100, delivery_check_minutes=60)
    engine = await open_followup_db(fu_url)
    s = Scheduler(cfg, engine, FileChannel(out, owner), shop=shop, clock=lambda: at, owner=owner)
    for _ in range(3):
        await s.scan()
        await s.tick()
    await engine.dispose()
    await shop.close()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:6]))
