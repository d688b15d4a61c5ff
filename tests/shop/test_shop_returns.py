from datetime import datetime, timedelta, timezone

import pytest
from shop_helpers import order_in

from shop.models import ReturnReason
from shop.rules import ReturnDecision, return_eligibility
from shop.status import OrderStatus

S = OrderStatus
Q, NQ = ReturnReason.QUALITY, ReturnReason.NON_QUALITY
SIGNED = datetime(2024, 11, 10, 4, 0, tzinfo=timezone.utc)
CREATED = SIGNED - timedelta(days=3)


def delivered(status=S.DELIVERED):
    return order_in(status, CREATED, delivered_at=SIGNED)


def test_quality_problem_in_window_store_pays_both_ways(store):
    e = return_eligibility(delivered(), Q, now=SIGNED + timedelta(days=3), store=store)
    assert e.decision == ReturnDecision.RETURN_AND_REFUND and e.eligible and not e.offer_human
    assert (e.return_shipping_by, e.original_shipping_by) == ("store", "store")
    assert e.refund_days == "1-3" and e.window_days == 7
    assert e.days_left == 4


def test_non_quality_in_window_buyer_pays_return_and_original_shipping(store):
    e = return_eligibility(delivered(), NQ, now=SIGNED + timedelta(days=6, hours=23), store=store)
    assert e.eligible and e.decision == ReturnDecision.RETURN_AND_REFUND
    assert (e.return_shipping_by, e.original_shipping_by) == ("buyer", "buyer")


def test_window_boundary_is_seven_days_after_signing(store):
    at_end = return_eligibility(delivered(), NQ, now=SIGNED + timedelta(days=7), store=store)
    after = return_eligibility(delivered(), NQ, now=SIGNED + timedelta(days=7, seconds=1), store=store)
    assert at_end.eligible and not after.eligible
    assert after.decision == ReturnDecision.OUT_OF_WINDOW and after.offer_human
    assert after.window_ends_at == SIGNED + timedelta(days=7)


def test_non_quality_with_resale_affected_goes_to_a_person(store):
    e = return_eligibility(delivered(), NQ, now=SIGNED + timedelta(days=2), store=store, resale_ok=False)
    assert e.decision == ReturnDecision.RESALE_AFFECTED and not e.eligible and e.offer_human


def test_quality_problem_is_not_affected_by_resale(store):
    e = return_eligibility(delivered(), Q, now=SIGNED + timedelta(days=2), store=store, resale_ok=False)
    assert e.eligible


def test_quality_problem_after_window_is_warranty(store):
    e = return_eligibility(delivered(S.COMPLETED), Q, now=SIGNED + timedelta(days=40), store=store)
    assert e.decision == ReturnDecision.WARRANTY and not e.eligible and e.offer_human
    assert e.warranty_ends_at == SIGNED.replace(year=2025)
    late = return_eligibility(delivered(S.COMPLETED), Q, now=SIGNED + timedelta(days=400), store=store)
    assert late.decision == ReturnDecision.OUT_OF_WINDOW


def test_completed_order_keeps_its_window(store):
    e = return_eligibility(delivered(S.COMPLETED), NQ, now=SIGNED + timedelta(days=5), store=store)
    assert e.eligible


@pytest.mark.parametrize(
    "status,decision",
    [
        (S.PAID, ReturnDecision.REFUND_ONLY),
        (S.SHIPPED, ReturnDecision.REFUSE_DELIVERY),
        (S.IN_TRANSIT, ReturnDecision.REFUSE_DELIVERY),
        (S.OUT_FOR_DELIVERY, ReturnDecision.REFUSE_DELIVERY),
        (S.UNPAID, ReturnDecision.NOT_PAID),
        (S.CANCELLED, ReturnDecision.NOT_PAID),
        (S.REFUND_REQUESTED, ReturnDecision.IN_PROGRESS),
        (S.RETURNING, ReturnDecision.IN_PROGRESS),
        (S.REFUNDED, ReturnDecision.FINISHED),
        (S.CLOSED, ReturnDecision.FINISHED),
    ],
)
def test_decision_by_status(store, status, decision):
    order = order_in(status, CREATED)
    for reason in (Q, NQ):
        e = return_eligibility(order, reason, now=CREATED + timedelta(days=60), store=store)
        assert e.decision == decision
        assert e.eligible == (decision in (ReturnDecision.REFUND_ONLY, ReturnDecision.REFUSE_DELIVERY))


def test_refusing_delivery_says_who_pays_the_way_back(store):
    order = order_in(S.IN_TRANSIT, CREATED)
    assert return_eligibility(order, Q, now=SIGNED, store=store).return_shipping_by == "store"
    assert return_eligibility(order, NQ, now=SIGNED, store=store).return_shipping_by == "buyer"


def test_reason_accepts_plain_strings(store):
    assert return_eligibility(delivered(), "quality", now=SIGNED, store=store).reason == Q
    with pytest.raises(ValueError):
        return_eligibility(delivered(), "because", now=SIGNED, store=store)
