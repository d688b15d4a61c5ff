"""python -m followup status | deliver ORDER_ID

status          the follow-up jobs and open promises (what the scheduler will do and did)
deliver ORDER   demo: the courier delivers an order now (out for delivery -> delivered),
                so its 回访 falls due `delivery_check.delay_minutes` from now
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from typing import Optional, Sequence


async def _status() -> int:
    from followup.config import ROOT, followup_db_url, load_config
    from followup.db import jobs, open_followup_db, promises

    cfg = load_config()
    desk_url = os.environ.get("XIAOER_DESK_DB_URL") or f"sqlite+aiosqlite:///{ROOT / 'var' / 'desk.db'}"
    url = followup_db_url(desk_url, cfg.db_url if cfg.db_url_set else "")
    engine = await open_followup_db(url)
    async with engine.connect() as conn:
        js = (await conn.execute(jobs.select().order_by(jobs.c.due_at))).all()
        ps = (await conn.execute(promises.select().where(promises.c.state != "kept").order_by(promises.c.due_at))).all()
    await engine.dispose()
    print(f"{url}: {len(js)} jobs, {len(ps)} open promises")
    for j in js:
        print(
            f"  job {j.id:<5} {j.kind:<16} {j.state:<14} due {j.due_at:%Y-%m-%d %H:%M} UTC  {j.buyer_id:<12} "
            f"{j.order_id or '':<20} {j.note or ''}"
        )
    for p in ps:
        print(f"  promise {p.id:<3} {p.state:<9} due {p.due_at:%Y-%m-%d %H:%M} UTC  {p.buyer_id or '-':<12} {p.topic}")
    return 0


async def _deliver(order_id: str) -> int:
    from shop.config import load_backend
    from shop.status import OrderStatus

    backend = load_backend()
    await backend.start()
    try:
        orders = [o for o in await backend.all_orders() if o.order_id == order_id.strip().upper()]
        if not orders:
            print(f"no order {order_id}", file=sys.stderr)
            return 2
        order = orders[0]
        if order.status != OrderStatus.OUT_FOR_DELIVERY:
            print(
                f"{order.order_id} is {order.status.value}; pick an out_for_delivery order (make demo-data)",
                file=sys.stderr,
            )
            return 2
        order = await backend.advance(order.order_id, OrderStatus.DELIVERED, by="courier", signed_by="本人")
        print(f"{order.order_id} delivered to {order.buyer_id}; log in as {order.buyer_id} on the storefront")
        return 0
    finally:
        await backend.close()


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m followup", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("status")
    d = sub.add_parser("deliver")
    d.add_argument("order_id")
    a = ap.parse_args(argv)
    return asyncio.run(_status() if a.cmd == "status" else _deliver(a.order_id))


if __name__ == "__main__":
    sys.exit(main())
