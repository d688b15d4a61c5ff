from datetime import datetime, timedelta, timezone

import pytest
from shop_helpers import DETAILS, PATHS, order_in

from shop.status import (
    ALLOWED,
    EVENT_REFUND_WITHDRAWN,
    TIMESTAMP_FIELD,
    InvalidTransition,
    OrderStatus,
    allowed_next,
    apply,
    transition,
)

S = OrderStatus
T = datetime(2024, 11, 1, 2, 0, tzinfo=timezone.utc)
ALLOWED_PAIRS = [(a, b) for a, nexts in ALLOWED.items() for b in sorted(nexts, key=lambda s: s.value)]
# order_in(REFUND_REQUESTED) comes from paid: going back to paid is the (allowed) withdrawal
FORBIDDEN_PAIRS = [
    (a, b) for a in S for b in S if b not in ALLOWED[a] and not (a == S.REFUND_REQUESTED and b == S.PAID)
]


def test_every_status_is_reachable_and_paths_are_valid():
    for status in S:
        assert order_in(status, T).status == status


@pytest.mark.parametrize("src,dst", ALLOWED_PAIRS, ids=lambda s: s.value)
def test_allowed_transition_records_named_event_with_time(src, dst):
    order = order_in(src, T)
    at = order.updated_at + timedelta(minutes=30)
    ev = transition(order, dst, at=at, by="store", note="测试", **DETAILS.get(dst, {}))
    assert ev.name == f"order.{dst.value}"
    assert (ev.order_id, ev.at, ev.by, ev.from_status, ev.to_status, ev.note) == (
        order.order_id,
        at,
        "store",
        src,
        dst,
        "测试",
    )
    after = apply(order, ev)
    assert after.status == dst
    assert after.events[-1] == ev and len(after.events) == len(order.events) + 1
    assert after.updated_at == at
    if dst in TIMESTAMP_FIELD:
        assert getattr(after, TIMESTAMP_FIELD[dst]) == at
    assert order.status == src  # transition/apply never mutate


@pytest.mark.parametrize("src,dst", FORBIDDEN_PAIRS, ids=lambda s: s.value)
def test_forbidden_transition_raises(src, dst):
    order = order_in(src, T)
    with pytest.raises(InvalidTransition) as e:
        transition(order, dst, at=order.updated_at + timedelta(hours=1), by="store", **DETAILS.get(dst, {}))
    assert e.value.from_status == src and e.value.to_status == dst
    assert src.value in str(e.value) and dst.value in str(e.value)


@pytest.mark.parametrize(
    "src,dst",
    [
        (S.CANCELLED, S.SHIPPED),  # no shipping a cancelled order
        (S.UNPAID, S.REFUND_REQUESTED),  # no refund of an unpaid order
        (S.UNPAID, S.SHIPPED),  # no shipping before payment
        (S.CLOSED, S.PAID),
        (S.REFUNDED, S.SHIPPED),
        (S.DELIVERED, S.CANCELLED),  # delivered goods are returned, not cancelled
        (S.PAID, S.CANCELLED),  # a paid order is refunded, not cancelled
    ],
    ids=lambda s: s.value,
)
def test_named_forbidden_cases(src, dst):
    order = order_in(src, T)
    with pytest.raises(InvalidTransition):
        transition(order, dst, at=order.updated_at + timedelta(hours=1), by="x", **DETAILS.get(dst, {}))


def test_final_states_have_no_exit():
    assert allowed_next(S.CANCELLED) == frozenset() and allowed_next(S.CLOSED) == frozenset()


def test_shipping_needs_courier_and_tracking_number():
    order = order_in(S.PAID, T)
    at = order.updated_at + timedelta(hours=1)
    with pytest.raises(InvalidTransition, match="courier"):
        transition(order, S.SHIPPED, at=at, by="store", tracking_no="7531")
    with pytest.raises(InvalidTransition, match="tracking_no"):
        transition(order, S.SHIPPED, at=at, by="store", courier="中通快递")
    ev = transition(order, S.SHIPPED, at=at, by="store", courier="中通快递", tracking_no="7531")
    after = apply(order, ev)
    assert (after.courier, after.tracking_no, after.shipped_at) == ("中通快递", "7531", at)


def test_delivery_needs_and_records_the_signer():
    order = order_in(S.IN_TRANSIT, T)
    at = order.updated_at + timedelta(hours=1)
    with pytest.raises(InvalidTransition, match="signed_by"):
        transition(order, S.DELIVERED, at=at, by="courier")
    after = apply(order, transition(order, S.DELIVERED, at=at, by="courier", signed_by="驿站"))
    assert after.signed_by == "驿站" and after.delivered_at == at
    assert after.events[-1].details == {"signed_by": "驿站"}


def test_timestamps_must_be_aware_and_not_go_back():
    order = order_in(S.PAID, T)
    with pytest.raises(InvalidTransition, match="timezone"):
        transition(order, S.REFUND_REQUESTED, at=datetime(2024, 11, 2), by="buyer")
    with pytest.raises(InvalidTransition, match="before"):
        transition(order, S.REFUND_REQUESTED, at=order.updated_at - timedelta(seconds=1), by="buyer")


def test_full_history_is_kept_in_order():
    order = order_in(S.RETURNING, T)
    names = [e.name for e in order.events]
    assert names == [
        "order.created",
        "order.paid",
        "order.shipped",
        "order.delivered",
        "order.refund_requested",
        "order.returning",
    ]
    times = [e.at for e in order.events]
    assert times == sorted(times)
    assert [e.to_status for e in order.events][1:] == PATHS[S.RETURNING]


def test_withdrawn_refund_goes_back_to_the_previous_status_only():
    order = order_in(S.DELIVERED, T)
    order = apply(order, transition(order, S.REFUND_REQUESTED, at=order.updated_at, by="buyer"))
    back_at = order.updated_at + timedelta(hours=1)
    with pytest.raises(InvalidTransition):
        transition(order, S.PAID, at=back_at, by="buyer")
    ev = transition(order, S.DELIVERED, at=back_at, by="buyer")
    assert ev.name == EVENT_REFUND_WITHDRAWN
    after = apply(order, ev)
    assert after.status == S.DELIVERED
    assert after.delivered_at == order.delivered_at  # signing time is not rewritten


def test_labels_are_what_platforms_show():
    assert S.PAID.label_zh == "待发货" and S.UNPAID.label_zh == "待付款" and S.CLOSED.label_zh == "交易关闭"
    assert all(s.label_zh for s in S)
