"""Conversation repairs (issue 9, item 6), asserted on what the shopper reads:
each action's messages go through Rasa's RemoteAction code and the project's
NLG (rasa_ext.nlg.StoreNLG), as in production. An action that hands on with
FollowupAction is followed, as Rasa would."""

from __future__ import annotations

import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions.aftersales import ActionReportQualityIssue, ActionRequestReturn
from actions.fallback import ActionHandleFallback, ActionHandleOutOfScope
from actions.greeting import ActionHandleInform
from actions.handoff import ActionStartHandoff
from actions.logistics import ActionAnswerCourier, ActionAnswerDeliveryTime, ActionAnswerShippingFee
from actions.orders import ActionCancelOrder, ActionChangeOrder, ActionLookUpOrder
from shop.models import AddressInput, BuyerInput, Gender, RecordKind
from shop.status import OrderStatus as S
from tests.actions.conftest import assert_rendered, make_tracker, shopper_sees, texts
from tests.actions.test_orders import ALICE, BOB, PAID, REFUNDING, STALLED, UNPAID, make_order, seed_shop

ACTIONS = {
    a.name(): a
    for a in (
        ActionAnswerCourier(),
        ActionAnswerDeliveryTime(),
        ActionAnswerShippingFee(),
        ActionChangeOrder(),
        ActionLookUpOrder(),
        ActionCancelOrder(),
        ActionRequestReturn(),
        ActionReportQualityIssue(),
        ActionHandleInform(),
        ActionHandleFallback(),
        ActionHandleOutOfScope(),
        ActionStartHandoff(),
    )
}

CAROL = "buyer_carol"
CAROL_CHARGER_NEW = "DD20241120001"
CAROL_CHARGER = "DD20241119001"
CAROL_CABLE = "DD20241110001"


async def converse(action: str, tracker, slots=None):
    """Run `action` and what it hands on to; return what the shopper sees,
    the events and the actions that ran."""
    dispatcher = CollectingDispatcher()
    ran, events = [], []
    for _ in range(3):
        ran.append(action)
        new = await ACTIONS[action].run(dispatcher, tracker, {})
        events += new
        follow = [e for e in new if e.get("event") == "followup"]
        if not follow:
            break
        action = follow[0]["name"]
    await assert_rendered(dispatcher, tracker)
    seen = await shopper_sees(dispatcher, tracker.latest_message.get("text") or "", slots)
    return seen, events, ran


def slot(events, name):
    found = [e["value"] for e in events if e.get("event") == "slot" and e.get("name") == name]
    return found[-1] if found else None


def alice(text, intent, entities=None, events=None, slots=None, buyer=ALICE):
    return make_tracker(
        text, intent, entities=entities, events=events, slots=slots, metadata={"buyer_id": buyer} if buyer else {}
    )


def order_entity(oid):
    return [{"entity": "order_id", "value": oid}]


@pytest.fixture()
async def shop(shop_backend):
    return await seed_shop(shop_backend)


@pytest.fixture()
def agents_online(monkeypatch):
    from xiaoer.store_config import StoreConfig

    def set_online(value: bool):
        monkeypatch.setattr(StoreConfig, "agents_online", lambda self, now=None: value)

    return set_online


# ---- L6: no self pick-up ---------------------------------------------------------------


@pytest.mark.parametrize(
    "text, intent, action",
    [
        ("能到仓库取吗", "ask_courier", "action_answer_courier"),
        ("我自己去拿", "ask_delivery_time", "action_answer_delivery_time"),
        ("可以自提吗 自提是不是就不要运费", "ask_shipping_fee", "action_answer_shipping_fee"),
        ("我自己去拿", "out_of_scope", "action_handle_out_of_scope"),
        ("自提", "nlu_fallback", "action_handle_fallback"),
    ],
)
async def test_self_pickup_is_told_delivery_to_the_door(text, intent, action):
    seen, _, _ = await converse(action, make_tracker(text, intent))
    said = texts(seen)
    assert len(said) == 1
    assert "送货上门" in said[0] and "收货地址" in said[0]
    assert "仓发货" not in said[0] and "华东" not in said[0]  # not the warehouse list


# ---- O8/L5: a delivery wish with the order number -----------------------------------------


@pytest.mark.parametrize(
    "text, intent, first",
    [
        (f"{PAID}的订单周末再送", "ask_delivery_time", "action_answer_delivery_time"),
        (f"{PAID}的订单周末再送", "query_order", "action_look_up_order"),
        (f"订单{PAID} 下午送", "inform", "action_handle_inform"),
        (f"订单{PAID} 下午送", "nlu_fallback", "action_handle_fallback"),
        (f"订单号{PAID},下午送", "change_order", "action_change_order"),
    ],
)
async def test_delivery_wish_with_the_order_number_is_noted_on_that_order(shop, text, intent, first):
    seen, events, ran = await converse(first, alice(text, intent, order_entity(PAID)))
    said = texts(seen)
    assert len(said) == 1, said
    wish = "周末再送" if "周末" in text else "下午送"
    assert f"订单{PAID}上为您备注「{wish}」" in said[0]
    assert "具体以实际配送为准" in said[0]  # noted, not guaranteed
    notes = await shop.records_for(ALICE, kind=RecordKind.ORDER_NOTE)
    assert [(n.order_id, n.data["note_kind"]) for n in notes] == [(PAID, "delivery_time")]


async def test_a_wish_for_an_order_of_someone_else_notes_nothing(shop):
    seen, _, _ = await converse(
        "action_answer_delivery_time",
        alice(f"{PAID}的订单周末再送", "ask_delivery_time", order_entity(PAID), buyer=BOB),
    )
    assert "没有查到" in texts(seen)[0] or "没有找到" in texts(seen)[0] or PAID in texts(seen)[0]
    assert "备注" not in texts(seen)[0]
    assert await shop.records_for(BOB, kind=RecordKind.ORDER_NOTE) == []


# ---- C1 / C5: complaints and abuse -------------------------------------------------------------


async def test_offline_complaint_is_calmed_and_restated_before_the_offline_notice(shop_backend, agents_online):
    agents_online(False)
    text = "快递员态度很差,东西直接扔在门口就走了,我要投诉"
    seen, _, _ = await converse("action_start_handoff", make_tracker(text, "complain"))
    said = texts(seen)
    assert not said[0].startswith("您好,很高兴为您服务")
    assert "理解您现在的心情" in said[0] or "敬请谅解" in said[0]  # calming first
    assert "快递员态度很差" in said[1] and "环境质量" in said[1] and "对吗" in said[1]  # restated (G11)
    assert "人工客服时间" in said[2] and "小时内" in said[2]  # then the offline notice
    handoff = seen[-1]["custom"]["handoff"]
    assert handoff["category"] == "环境质量" and handoff["agents_online"] is False


def test_the_restatement_leaves_out_the_words_that_only_say_it_is_a_complaint():
    from actions.handoff import restated

    assert restated("快递员态度很差,东西直接扔在门口就走了,我要投诉") == "快递员态度很差,东西直接扔在门口就走了"
    assert restated("我要投诉") == "我要投诉"


async def test_online_complaint_about_delivery_is_categorised_environment(shop_backend, agents_online):
    agents_online(True)
    seen, _, _ = await converse("action_start_handoff", make_tracker("配送员不打电话就放驿站,太过分了", "complain"))
    said = texts(seen)
    assert "配送员不打电话就放驿站" in said[1] and "环境质量" in said[1]
    assert "小时之内" in said[2]
    assert seen[-1]["custom"]["handoff"]["category"] == "环境质量"


async def test_words_the_guard_would_change_are_not_quoted_back(shop_backend, agents_online):
    agents_online(True)
    text = "送货员用13812345678给我打电话还骂人,我要投诉"
    seen, _, _ = await converse("action_start_handoff", make_tracker(text, "complain"))
    said = texts(seen)
    assert "1381" not in " ".join(said) and "「" not in said[1]  # no quote, not even a masked one
    assert "环境质量方面的问题" in said[1] and "对吗" in said[1]


@pytest.mark.parametrize("online", [True, False])
@pytest.mark.parametrize(
    "text, intent, first",
    [
        ("你们这垃圾店,骗子", "complain", "action_start_handoff"),
        ("傻逼客服", "out_of_scope", "action_handle_out_of_scope"),
        ("滚,什么破店", "nlu_fallback", "action_handle_fallback"),
    ],
)
async def test_abuse_gets_a_calm_apology_and_a_supervisor(shop_backend, agents_online, online, text, intent, first):
    agents_online(online)
    seen, _, ran = await converse(first, make_tracker(text, intent))
    assert ran[-1] == "action_start_handoff"
    said = texts(seen)
    assert len(said) == 1
    assert "抱歉" in said[0] and "主管" in said[0] and "理解" in said[0]
    assert not said[0].startswith("您好,很高兴为您服务")
    handoff = seen[-1]["custom"]["handoff"]
    assert handoff["reason"] == "abuse" and handoff["priority"] == "high" and handoff["for_supervisor"] is True


# ---- O4: no tracking update ---------------------------------------------------------------------


async def test_no_tracking_update_opens_with_an_apology_then_asks_which_order(shop):
    seen, events, _ = await converse("action_look_up_order", alice("物流几天没更新", "query_order"))
    said = texts(seen)
    assert said[0].startswith("非常抱歉") or said[0].startswith("真的很抱歉")
    assert "哪一个" in said[1]
    # only orders that can be late: paid or on their way, not the unpaid or refunded ones
    shown = {b["payload"] for b in seen[1]["buttons"]}
    assert STALLED in shown and PAID in shown and UNPAID not in shown and REFUNDING not in shown
    assert slot(events, "order_purpose") == "delay"


async def test_no_tracking_update_without_login_apologises_first(shop):
    seen, _, _ = await converse("action_look_up_order", alice("物流几天没更新", "query_order", buyer=None))
    said = texts(seen)
    assert "抱歉" in said[0] and "登录" in said[-1]


async def test_stalled_order_picked_from_the_list_gets_one_apology_and_the_last_station(shop):
    asked = [
        {"event": "user", "text": "物流几天没更新", "parse_data": {"intent": {"name": "query_order"}}},
        {"event": "action", "name": "action_look_up_order"},
        {"event": "slot", "name": "order_purpose", "value": "query"},
        {"event": "slot", "name": "order_request", "value": "物流几天没更新"},
        {"event": "bot", "text": "..."},
        {"event": "action", "name": "action_listen"},
    ]
    seen, _, ran = await converse(
        "action_handle_inform",
        alice(
            STALLED,
            "inform",
            order_entity(STALLED),
            events=asked,
            slots={"order_purpose": "query", "order_request": "物流几天没更新"},
        ),
    )
    assert ran == ["action_handle_inform", "action_look_up_order"]
    said = texts(seen)
    assert len(said) == 1 and said[0].startswith("非常抱歉") and "嘉兴转运中心" in said[0]


# ---- A4: where is my refund -------------------------------------------------------------------


async def test_refund_arrival_question_looks_up_the_refund_in_progress(shop):
    seen, _, _ = await converse("action_request_return", alice("退款什么时候到账", "return_refund"))
    said = texts(seen)
    assert len(said) == 1
    assert f"订单{REFUNDING}" in said[0] and "申请退款" in said[0] and "原路退回" in said[0]
    assert "无理由" not in said[0]  # not the policy recital
    assert not seen[0]["buttons"]


async def test_refund_question_asked_as_an_order_query_is_the_same_lookup(shop):
    seen, _, _ = await converse("action_look_up_order", alice("我的退款怎么还没到账", "query_order"))
    assert f"订单{REFUNDING}" in texts(seen)[0]


async def test_no_refund_in_progress_is_said_plainly(shop):
    seen, _, _ = await converse("action_request_return", alice("退款什么时候到账", "return_refund", buyer=BOB))
    said = texts(seen)
    assert len(said) == 1 and "没有正在处理中的退款" in said[0]


async def test_refund_question_without_login_gives_the_timing_and_the_way_in(shop):
    seen, _, _ = await converse("action_request_return", alice("退款什么时候到账", "return_refund", buyer=None))
    said = texts(seen)
    assert "天内原路退回" in said[0] and "登录" in said[1]


# ---- product problem: orders with the product first; buttons post only the order number ---------


@pytest.fixture()
async def carol_shop(shop):
    await shop.put_buyer(
        BuyerInput(
            CAROL,
            "周敏",
            Gender.FEMALE,
            "13700001234",
            (AddressInput("周敏", "13700001234", "江苏省", "苏州市", "姑苏区", "人民路8号"),),
        )
    )
    await make_order(shop, CAROL_CABLE, CAROL, S.DELIVERED, hours_ago=24 * 5)
    await make_order(shop, CAROL_CHARGER, CAROL, S.DELIVERED, hours_ago=48, sku="P300-01")
    await make_order(shop, CAROL_CHARGER_NEW, CAROL, S.DELIVERED, hours_ago=24, sku="P300-01")
    return shop


async def test_product_problem_lists_the_orders_with_that_product_first(carol_shop):
    t = alice("数据线用了两天就坏了", "report_quality_issue", [{"entity": "product", "value": "数据线"}], buyer=CAROL)
    seen, events, _ = await converse("action_report_quality_issue", t)
    listing = next(m for m in seen if m["buttons"])
    titles = [b["title"] for b in listing["buttons"]]
    assert titles[0].startswith(CAROL_CABLE) and "数据线" in titles[0]
    assert {t.split()[0] for t in titles} == {CAROL_CABLE, CAROL_CHARGER, CAROL_CHARGER_NEW}
    for b in listing["buttons"]:
        # what the press posts as the shopper's message is the order number printed on the button
        assert b["payload"] == b["title"].split()[0]
        assert not b["payload"].startswith("/")
    assert slot(events, "order_purpose") == "quality"
    assert slot(events, "order_request") == "数据线用了两天就坏了"


async def test_pressing_an_order_button_continues_the_product_problem(carol_shop):
    listed = [
        {"event": "user", "text": "数据线用了两天就坏了", "parse_data": {"intent": {"name": "report_quality_issue"}}},
        {"event": "action", "name": "action_report_quality_issue"},
        {"event": "slot", "name": "order_purpose", "value": "quality"},
        {"event": "slot", "name": "order_request", "value": "数据线用了两天就坏了"},
        {"event": "bot", "text": "..."},
        {"event": "action", "name": "action_listen"},
    ]
    slots = {"order_purpose": "quality", "order_request": "数据线用了两天就坏了"}
    # the NLU may call a bare number `inform` or `query_order`: the request goes on either way
    for intent, first in (("inform", "action_handle_inform"), ("query_order", "action_look_up_order")):
        t = alice(CAROL_CABLE, intent, order_entity(CAROL_CABLE), events=listed, slots=slots, buyer=CAROL)
        seen, events, ran = await converse(first, t)
        assert ran[-1] == "action_report_quality_issue"
        said = texts(seen)
        assert len(said) == 1 and CAROL_CABLE in said[0] and "图片" in said[0] and "质量问题" in said[0]
        assert slot(events, "pending_step") == "return_quality"
        assert "数据线用了两天就坏了" in slot(events, "pending_value")


async def test_a_number_typed_later_is_a_fresh_lookup(carol_shop):
    # the list was two turns ago: the number is not an answer to it any more
    old = [
        {"event": "user", "text": "数据线用了两天就坏了", "parse_data": {"intent": {"name": "report_quality_issue"}}},
        {"event": "action", "name": "action_report_quality_issue"},
        {"event": "slot", "name": "order_purpose", "value": "quality"},
        {"event": "bot", "text": "..."},
        {"event": "action", "name": "action_listen"},
        {"event": "user", "text": "谢谢", "parse_data": {"intent": {"name": "thank"}}},
        {"event": "action", "name": "utter_thank"},
        {"event": "action", "name": "action_listen"},
    ]
    t = alice(
        CAROL_CABLE,
        "inform",
        order_entity(CAROL_CABLE),
        events=old,
        slots={"order_purpose": "quality", "order_request": "数据线用了两天就坏了"},
        buyer=CAROL,
    )
    seen, events, ran = await converse("action_handle_inform", t)
    assert ran == ["action_handle_inform", "action_look_up_order"]
    assert "图片" not in texts(seen)[0] and CAROL_CABLE in texts(seen)[0]


async def test_menu_buttons_post_their_own_title():
    from tests.actions.conftest import _domain

    for name in ("utter_greet", "utter_greet_returning"):
        for variation in _domain().responses[name]:
            for b in variation.get("buttons") or []:
                assert b["payload"] == b["title"]
