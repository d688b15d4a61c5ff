"""Returns and refunds (A1-A4): quality vs non-quality, the return window,
refund progress; an entitled refund is never refused."""

from __future__ import annotations

import pytest

from actions.aftersales import ActionReportQualityIssue, ActionRequestReturn
from actions.confirm import ActionConfirmOrderStep
from shop.models import RecordKind
from shop.status import OrderStatus as S
from tests.actions.conftest import run_action
from tests.actions.test_orders import (  # noqa: F401 - the seeded shop fixture
    ALICE,
    IN_TRANSIT,
    OLD_COMPLETED,
    PAID,
    REFUNDING,
    SIGNED_FAMILY,
    UNPAID,
    as_alice,
    records,
    said,
    shop,
    slot,
    values_of,
)


def answer_slots(events):
    return {
        "awaiting_order_answer": True,
        "pending_step": slot(events, "pending_step"),
        "pending_order": slot(events, "pending_order"),
        "pending_value": slot(events, "pending_value"),
    }


async def test_policy_question_without_login_gets_the_general_reply(shop):
    d, _ = await run_action(ActionRequestReturn(), as_alice("七天无理由能退吗", "return_refund", buyer=None))
    assert said(d) == ["utter_return_policy"]
    d, _ = await run_action(ActionReportQualityIssue(), as_alice("充电器不充电", "report_quality_issue", buyer=None))
    assert said(d) == ["utter_quality_issue"]


async def test_logged_in_without_number_gets_policy_and_order_buttons(shop):
    d, _ = await run_action(ActionRequestReturn(), as_alice("我要退货", "return_refund"))
    assert said(d) == ["utter_return_policy", "utter_recent_orders"]
    assert all(b["payload"] == b["title"].split()[0] for b in d.messages[1]["buttons"])


async def test_a_yes_phrased_as_a_return_request_files_the_open_return(shop):
    slots = {"awaiting_order_answer": True, "pending_step": "return_nonquality", "pending_order": SIGNED_FAMILY}
    d, _ = await run_action(ActionRequestReturn(), as_alice("好的,帮我退吧", "return_refund", slots=slots))
    assert said(d) == ["utter_return_requested"]
    assert (await shop.get_order(SIGNED_FAMILY, buyer_id=ALICE)).status == S.REFUND_REQUESTED


async def test_quality_problem_in_window_apologises_asks_photos_store_pays_both_ways(shop):
    d, events = await run_action(
        ActionReportQualityIssue(), as_alice(f"{SIGNED_FAMILY} 数据线收到就坏了,插上没反应", "report_quality_issue")
    )
    assert said(d) == ["utter_return_quality"]
    assert values_of(d, "utter_return_quality")["total"] == "24.9"
    assert slot(events, "pending_step") == "return_quality"
    assert await records(shop, RecordKind.RETURN_REQUEST) == []
    d, _ = await run_action(ActionConfirmOrderStep(), as_alice("好的", "affirm", slots=answer_slots(events)))
    assert said(d) == ["utter_return_requested_quality"]
    rec = (await records(shop, RecordKind.RETURN_REQUEST))[0]
    assert rec.order_id == SIGNED_FAMILY and rec.data["reason"] == "quality" and "坏了" in rec.text
    assert (await shop.get_order(SIGNED_FAMILY, buyer_id=ALICE)).status == S.REFUND_REQUESTED


async def test_quality_words_in_a_return_request_count_as_quality(shop):
    d, _ = await run_action(ActionRequestReturn(), as_alice(f"{SIGNED_FAMILY} 质量有问题我要退货", "return_refund"))
    assert said(d) == ["utter_return_quality"]


async def test_non_quality_return_in_window_buyer_pays_return_shipping(shop):
    d, events = await run_action(ActionRequestReturn(), as_alice(f"{SIGNED_FAMILY} 不喜欢,想退货", "return_refund"))
    assert said(d) == ["utter_return_nonquality"]
    assert values_of(d, "utter_return_nonquality")["days_left"] in {"5", "6"}
    d, _ = await run_action(ActionConfirmOrderStep(), as_alice("好", "affirm", slots=answer_slots(events)))
    assert said(d) == ["utter_return_requested"]
    assert (await records(shop, RecordKind.RETURN_REQUEST))[0].data["reason"] == "non_quality"


async def test_used_goods_non_quality_offers_a_person(shop):
    d, events = await run_action(
        ActionRequestReturn(), as_alice(f"{SIGNED_FAMILY} 用过了不想要了能退吗", "return_refund")
    )
    assert said(d) == ["utter_return_resale_affected"] and slot(events, "pending_step") is None


async def test_out_of_window_explains_and_offers_a_person(shop):
    d, _ = await run_action(ActionRequestReturn(), as_alice(f"{OLD_COMPLETED} 不想要了,退货", "return_refund"))
    assert said(d) == ["utter_return_out_of_window"]
    d, _ = await run_action(ActionReportQualityIssue(), as_alice(f"{OLD_COMPLETED} 坏了", "report_quality_issue"))
    assert said(d) == ["utter_return_warranty"]


@pytest.mark.parametrize(
    "order_id, response, step",
    [
        (PAID, "utter_return_refund_only", "refund_only"),
        (IN_TRANSIT, "utter_return_in_transit", "intercept"),
        (SIGNED_FAMILY, "utter_return_nonquality", "return_nonquality"),
    ],
)
async def test_entitled_refunds_are_always_offered(shop, order_id, response, step):
    d, events = await run_action(ActionRequestReturn(), as_alice(f"{order_id} 我要退款", "return_refund"))
    assert said(d) == [response] and slot(events, "pending_step") == step


async def test_refund_only_for_paid_order_after_yes(shop):
    d, events = await run_action(ActionRequestReturn(), as_alice(f"{PAID} 申请退款", "return_refund"))
    d, _ = await run_action(ActionConfirmOrderStep(), as_alice("好的", "affirm", slots=answer_slots(events)))
    assert said(d) == ["utter_refund_requested"]
    assert (await shop.get_order(PAID, buyer_id=ALICE)).status == S.REFUND_REQUESTED


async def test_refund_progress_from_the_order(shop):
    d, _ = await run_action(ActionRequestReturn(), as_alice(f"{REFUNDING} 退款什么时候到", "return_refund"))
    assert said(d) == ["utter_refund_progress"]
    m = values_of(d, "utter_refund_progress")
    assert m["requested_time"] and m["status_label"] == S.REFUND_REQUESTED.label_zh


async def test_unpaid_order_has_nothing_to_refund(shop):
    d, _ = await run_action(ActionRequestReturn(), as_alice(f"{UNPAID} 退款", "return_refund"))
    assert said(d) == ["utter_return_not_paid"]


async def test_earlier_order_in_the_conversation_is_used(shop):
    d, _ = await run_action(
        ActionRequestReturn(), as_alice("那我退货吧", "return_refund", slots={"order_id": SIGNED_FAMILY})
    )
    assert said(d) == ["utter_return_nonquality"]
