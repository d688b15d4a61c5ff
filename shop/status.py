"""The order status machine: one enum, one transition function.

Every status change — the bot cancelling an unpaid order, the warehouse
shipping, the courier reporting a signature — goes through `transition()`,
which refuses what the platform forbids (shipping a cancelled order,
refunding an unpaid one) and returns the `OrderEvent` to record. `apply()`
then gives the order as it is after the event. Both are pure, so the SQL
backend, the demo generator and a real shop's adapter share one rule book.

    unpaid ─► paid ─► shipped ─► in_transit ─► out_for_delivery ─► delivered ─► completed
      │         │        └──────────┴──────────────┴──────────────────┴────────────┴─► refund_requested
      │         └─► refund_requested ─► returning ─► refunded ─► closed
      ├─► cancelled                 └──────────────► refunded
      └─► closed (payment timed out)
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Dict, FrozenSet, Mapping, Optional

if TYPE_CHECKING:  # pragma: no cover
    from shop.models import Order


class OrderStatus(str, enum.Enum):
    UNPAID = "unpaid"
    PAID = "paid"  # awaiting shipment (待发货)
    SHIPPED = "shipped"  # handed to the courier (已揽收)
    IN_TRANSIT = "in_transit"
    OUT_FOR_DELIVERY = "out_for_delivery"
    DELIVERED = "delivered"  # signed for, see Order.signed_by
    COMPLETED = "completed"  # receipt confirmed (交易成功)
    CANCELLED = "cancelled"  # cancelled before payment
    REFUND_REQUESTED = "refund_requested"
    RETURNING = "returning"  # goods on their way back to the store
    REFUNDED = "refunded"
    CLOSED = "closed"  # trade closed (after a refund, or payment timed out)

    @property
    def label_zh(self) -> str:
        """The status as platforms show it to buyers (data, like a rule book)."""
        return STATUS_LABELS_ZH[self]

    @property
    def is_shipped(self) -> bool:
        """The parcel has left the warehouse (and has not come back)."""
        return self in SHIPPED_STATES

    def __str__(self) -> str:  # "paid", not "OrderStatus.PAID", in logs and f-strings
        return self.value


S = OrderStatus

STATUS_LABELS_ZH: Dict[OrderStatus, str] = {
    S.UNPAID: "待付款",
    S.PAID: "待发货",
    S.SHIPPED: "已发货",
    S.IN_TRANSIT: "运输中",
    S.OUT_FOR_DELIVERY: "派送中",
    S.DELIVERED: "已签收",
    S.COMPLETED: "交易成功",
    S.CANCELLED: "已取消",
    S.REFUND_REQUESTED: "退款申请中",
    S.RETURNING: "退货中",
    S.REFUNDED: "已退款",
    S.CLOSED: "交易关闭",
}

SHIPPED_STATES: FrozenSet[OrderStatus] = frozenset({S.SHIPPED, S.IN_TRANSIT, S.OUT_FOR_DELIVERY})
# Address, phone and spec may still be changed by the store (O6).
CHANGEABLE_STATES: FrozenSet[OrderStatus] = frozenset({S.UNPAID, S.PAID})

ALLOWED: Mapping[OrderStatus, FrozenSet[OrderStatus]] = {
    S.UNPAID: frozenset({S.PAID, S.CANCELLED, S.CLOSED}),
    S.PAID: frozenset({S.SHIPPED, S.REFUND_REQUESTED}),
    S.SHIPPED: frozenset({S.IN_TRANSIT, S.OUT_FOR_DELIVERY, S.DELIVERED, S.REFUND_REQUESTED}),
    S.IN_TRANSIT: frozenset({S.OUT_FOR_DELIVERY, S.DELIVERED, S.REFUND_REQUESTED}),
    # a failed delivery goes back to the station
    S.OUT_FOR_DELIVERY: frozenset({S.IN_TRANSIT, S.DELIVERED, S.REFUND_REQUESTED}),
    S.DELIVERED: frozenset({S.COMPLETED, S.REFUND_REQUESTED}),
    # after-sales stay open after receipt is confirmed (A4)
    S.COMPLETED: frozenset({S.REFUND_REQUESTED}),
    # plus: back to the status before the request when it is withdrawn (see transition)
    S.REFUND_REQUESTED: frozenset({S.RETURNING, S.REFUNDED}),
    S.RETURNING: frozenset({S.REFUNDED}),
    S.REFUNDED: frozenset({S.CLOSED}),
    S.CANCELLED: frozenset(),
    S.CLOSED: frozenset(),
}

EVENT_NAMES: Mapping[OrderStatus, str] = {s: f"order.{s.value}" for s in OrderStatus}
EVENT_CREATED = "order.created"
EVENT_REFUND_WITHDRAWN = "order.refund_withdrawn"
# Changes of order data that are not status changes (recorded in the same log).
EVENT_ADDRESS_CHANGED = "order.address_changed"
EVENT_PHONE_CHANGED = "order.phone_changed"
EVENT_SPEC_CHANGED = "order.spec_changed"
EVENT_NOTE_ADDED = "order.note_added"

# The order field stamped when a status is entered.
TIMESTAMP_FIELD: Mapping[OrderStatus, str] = {
    S.PAID: "paid_at",
    S.SHIPPED: "shipped_at",
    S.DELIVERED: "delivered_at",
    S.COMPLETED: "completed_at",
    S.CANCELLED: "cancelled_at",
    S.REFUND_REQUESTED: "refund_requested_at",
    S.REFUNDED: "refunded_at",
    S.CLOSED: "closed_at",
}

# Details a transition cannot do without.
REQUIRED_DETAILS: Mapping[OrderStatus, tuple] = {
    S.SHIPPED: ("courier", "tracking_no"),
    S.DELIVERED: ("signed_by",),
}


class InvalidTransition(ValueError):
    """A status change the rules forbid; `str()` names both statuses and why."""

    def __init__(self, from_status: OrderStatus, to_status: OrderStatus, reason: str = "") -> None:
        self.from_status = OrderStatus(from_status)
        self.to_status = OrderStatus(to_status)
        self.reason = reason or "not allowed"
        super().__init__(f"cannot go from {self.from_status.value} to {self.to_status.value}: {self.reason}")


@dataclass(frozen=True)
class OrderEvent:
    """One line of an order's history. `details` holds e.g. courier, tracking_no, signed_by."""

    name: str  # dotted: order.paid, order.shipped, order.address_changed ...
    order_id: str
    at: datetime
    by: str  # buyer | bot | store | courier | system | agent:<id>
    from_status: Optional[OrderStatus] = None
    to_status: Optional[OrderStatus] = None
    note: str = ""
    details: Dict[str, Any] = field(default_factory=dict)


def allowed_next(status: OrderStatus) -> FrozenSet[OrderStatus]:
    return ALLOWED[OrderStatus(status)]


def _status_before_refund_request(order: "Order") -> Optional[OrderStatus]:
    for ev in reversed(order.events):
        if ev.to_status == S.REFUND_REQUESTED:
            return ev.from_status
    return None


def transition(
    order: "Order",
    new_status: OrderStatus,
    *,
    at: datetime,
    by: str,
    note: str = "",
    **details: Any,
) -> OrderEvent:
    """Validate moving `order` to `new_status` and return the event to record.

    Raises InvalidTransition for a change the rules forbid, for a missing
    required detail (shipping needs courier and tracking_no, delivery needs
    signed_by), for a naive timestamp and for a time before the order's last
    change. Does not change `order`; see `apply()`.
    """
    new_status = OrderStatus(new_status)
    current = order.status
    if at.tzinfo is None:
        raise InvalidTransition(current, new_status, "timestamp must be timezone-aware")
    if order.updated_at is not None and at < order.updated_at:
        raise InvalidTransition(current, new_status, "timestamp is before the order's last change")
    name = EVENT_NAMES[new_status]
    if new_status not in ALLOWED[current]:
        previous = _status_before_refund_request(order) if current == S.REFUND_REQUESTED else None
        if previous is None or new_status != previous:
            nexts = sorted(s.value for s in ALLOWED[current]) + ([previous.value] if previous else [])
            raise InvalidTransition(
                current, new_status, "allowed next: " + (", ".join(nexts) if nexts else "none (final status)")
            )
        name = EVENT_REFUND_WITHDRAWN
    for key in REQUIRED_DETAILS.get(new_status, ()):
        if not details.get(key) and not (name == EVENT_REFUND_WITHDRAWN):
            raise InvalidTransition(current, new_status, f"'{key}' is required")
    return OrderEvent(
        name=name,
        order_id=order.order_id,
        at=at,
        by=by,
        from_status=current,
        to_status=new_status,
        note=note,
        details=dict(details),
    )


def apply(order: "Order", event: OrderEvent) -> "Order":
    """The order after `event` (a status event from `transition()` or a data event)."""
    changes: Dict[str, Any] = {"events": order.events + (event,), "updated_at": max(order.updated_at, event.at)}
    if event.to_status is not None and event.to_status != order.status:
        changes["status"] = event.to_status
        ts_field = TIMESTAMP_FIELD.get(event.to_status)
        if ts_field and event.name != EVENT_REFUND_WITHDRAWN:
            changes[ts_field] = event.at
    d = event.details
    if event.to_status == S.SHIPPED:
        changes["courier"] = d.get("courier")
        changes["tracking_no"] = d.get("tracking_no")
    if event.to_status == S.DELIVERED:
        changes["signed_by"] = d.get("signed_by")
    return dataclasses.replace(order, **changes)
