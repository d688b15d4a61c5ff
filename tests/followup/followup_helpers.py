"""Helpers of the follow-up tests: a fake clock, an in-memory shop with orders in every state, a recording
channel: the scheduler runs exactly as in the desk, minus the websocket."""

from __future__ import annotations

import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Set

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
for p in (ROOT, ROOT / "tests" / "shop"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))


from followup import Delivery, OutboundChannel  # noqa: E402
from shop.status import OrderStatus  # noqa: E402

# 2026-11-20 02:00 UTC = 10:00 in Shanghai: outside every quiet window
T0 = datetime(2026, 11, 20, 2, 0, tzinfo=timezone.utc)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw) -> None:
        self.now += timedelta(**kw)


class FakeChannel(OutboundChannel):
    """Shoppers online by buyer id; every delivered message kept in order."""

    name = "fake"

    def __init__(self) -> None:
        self.online: Set[str] = set()
        self.busy: Set[str] = set()
        self.sent: List[Dict[str, Any]] = []
        self.inbox: List[tuple] = []
        self.agent_inbox: List[tuple] = []

    async def online_buyers(self, buyer_ids: Iterable[str]) -> Set[str]:
        return set(buyer_ids) & self.online

    async def deliver(self, buyer_id, message, *, job_id, kind, speaker="bot") -> Delivery:
        if buyer_id in self.busy:
            return Delivery("busy")
        self.sent.append({"buyer_id": buyer_id, "job_id": job_id, "kind": kind, "speaker": speaker, **message})
        return Delivery("delivered", conversation_id=f"conv-{buyer_id}", message_id=len(self.sent))

    async def already_delivered(self, buyer_id, job_id) -> Optional[Delivery]:
        for m in self.sent:
            if m["job_id"] == job_id:
                return Delivery("delivered", conversation_id=f"conv-{buyer_id}")
        return None

    async def shopper_messages(self, after_id, limit=500):
        return [m for m in self.inbox if m[0] > after_id][:limit]

    async def agent_messages(self, after_id, limit=500):
        return [m for m in self.agent_inbox if m[0] > after_id][:limit]


async def new_order(
    shop, clock, order_id: str, *, status: OrderStatus, at: datetime, buyer="buyer_001", signed_by="本人"
):
    """An order walked to `status`, the last step at `at`."""
    path = {
        OrderStatus.UNPAID: [],
        OrderStatus.PAID: [OrderStatus.PAID],
        OrderStatus.DELIVERED: [
            OrderStatus.PAID,
            OrderStatus.SHIPPED,
            OrderStatus.IN_TRANSIT,
            OrderStatus.OUT_FOR_DELIVERY,
            OrderStatus.DELIVERED,
        ],
    }[status]
    created = at if not path else at - timedelta(days=3)
    await shop.create_order(order_id=order_id, buyer_id=buyer, items=[("P100-01", 1)], at=created)
    t = at - timedelta(hours=len(path))
    for st in path:
        t += timedelta(hours=1)
        extra = {}
        if st == OrderStatus.SHIPPED:
            extra = {"courier": "中通快递", "tracking_no": "75300000000001"}
        if st == OrderStatus.DELIVERED:
            extra = {"signed_by": signed_by}
        await shop.advance(order_id, st, at=t, **extra)
    return await shop.get_order(order_id, buyer_id=buyer)
