"""The FAQ actions of the foundation: which documented reply, with which values."""

import pytest
from rasa_sdk.events import ConversationPaused, SlotSet

from actions.bargain import ActionAnswerPrice, ActionRespondBargain
from actions.fallback import ActionHandleFallback, ActionHandleOutOfScope
from actions.greeting import (
    ActionAcknowledgePraise,
    ActionGreet,
    ActionHandleInform,
    ActionRecordSuggestion,
    ActionSayGoodbye,
)
from actions.handoff import ActionStartHandoff
from actions.invoice import ActionAnswerInvoice
from actions.payment import ActionAnswerPayment
from tests.actions.conftest import make_tracker, previous_turn, run_action


def responses(dispatcher):
    return [m.get("response") for m in dispatcher.messages]


async def test_first_contact_gets_menu_greeting_then_returning_greeting():
    d, events = await run_action(ActionGreet(), make_tracker("在吗", "greet"))
    assert responses(d) == ["utter_greet"]
    assert SlotSet("returning_shopper", True) in events
    d, _ = await run_action(ActionGreet(), make_tracker("在吗", "greet", slots={"returning_shopper": True}))
    assert responses(d) == ["utter_greet_returning"]


async def test_a_second_hello_in_the_same_visit_is_not_a_returning_greeting():
    earlier = previous_turn("你好", "greet", "action_greet")
    d, events = await run_action(
        ActionGreet(), make_tracker("你好", "greet", slots={"returning_shopper": True}, events=earlier)
    )
    assert responses(d) == ["utter_greet_again"] and events == []
    # after the session expired, a return visit
    later = earlier + [{"event": "session_started"}]
    d, _ = await run_action(
        ActionGreet(), make_tracker("你好", "greet", slots={"returning_shopper": True}, events=later)
    )
    assert responses(d) == ["utter_greet_returning"]


async def test_farewell_invites_review_only_after_satisfaction():
    d, _ = await run_action(ActionSayGoodbye(), make_tracker("拜拜", "goodbye"))
    assert responses(d) == ["utter_goodbye"]
    d, events = await run_action(ActionAcknowledgePraise(), make_tracker("东西很好用", "praise"))
    assert responses(d) == ["utter_praise"] and SlotSet("satisfied", True) in events
    d, _ = await run_action(ActionSayGoodbye(), make_tracker("拜拜", "goodbye", slots={"satisfied": True}))
    assert responses(d) == ["utter_goodbye_review"]


async def test_surname_is_remembered_for_addressing():
    t = make_tracker("我姓王", "inform", entities=[{"entity": "surname", "value": "王"}])
    d, events = await run_action(ActionHandleInform(), t)
    assert d.messages[0]["response"] == "utter_name_ack"
    assert events == [SlotSet("shopper_title", "王先生/女士")]
    t = make_tracker("我是李女士", "inform", entities=[{"entity": "surname", "value": "李女士"}])
    d, events = await run_action(ActionHandleInform(), t)
    assert events == [SlotSet("shopper_title", "李女士")]


async def test_plain_data_is_acknowledged():
    d, events = await run_action(ActionHandleInform(), make_tracker("黑色 XL", "inform"))
    assert responses(d) == ["utter_inform_received"] and events == []


async def test_suggestion_is_really_recorded(shop_backend):
    t = make_tracker("建议你们包装再结实点", "suggest", metadata={"buyer_id": "buyer_001"})
    d, _ = await run_action(ActionRecordSuggestion(), t)
    assert responses(d) == ["utter_suggest"]
    recs = await shop_backend.open_records(kind="suggestion")
    assert [r.text for r in recs] == ["建议你们包装再结实点"]


async def test_first_miss_asks_to_rephrase_second_is_recorded(shop_backend):
    d, _ = await run_action(ActionHandleFallback(), make_tracker("asdfgh", "nlu_fallback"))
    assert responses(d) == ["utter_rephrase"]
    assert await shop_backend.open_records(kind="question") == []
    t = make_tracker(
        "能不能帮我给无人机充电",
        "nlu_fallback",
        events=previous_turn("asdfgh", "nlu_fallback", "action_handle_fallback"),
    )
    d, _ = await run_action(ActionHandleFallback(), t)
    assert responses(d) == ["utter_unresolved"]
    assert d.messages[0]["question"] == "能不能帮我给无人机充电"
    assert [r.text for r in await shop_backend.open_records(kind="question")] == ["能不能帮我给无人机充电"]


async def test_miss_after_an_answered_question_starts_over(shop_backend):
    t = make_tracker("嗯嗯嗯?", "nlu_fallback", events=previous_turn("发票", "ask_invoice", "action_answer_invoice"))
    d, _ = await run_action(ActionHandleFallback(), t)
    assert responses(d) == ["utter_rephrase"]


async def test_empty_message_gets_rephrase_never_recorded(shop_backend):
    t = make_tracker("", "nlu_fallback", events=previous_turn("??", "nlu_fallback", "action_handle_fallback"))
    d, _ = await run_action(ActionHandleFallback(), t)
    assert responses(d) == ["utter_rephrase"]
    assert await shop_backend.open_records(kind="question") == []


async def test_long_question_is_shortened_in_the_restatement(shop_backend):
    text = "请问" + "这个那个" * 50
    t = make_tracker(text, "nlu_fallback", events=previous_turn("?", "nlu_fallback", "action_handle_fallback"))
    d, _ = await run_action(ActionHandleFallback(), t)
    assert d.messages[0]["question"].endswith("……") and len(d.messages[0]["question"]) <= 42


@pytest.mark.parametrize(
    "text, expected",
    [
        ("今天天气怎么样", "utter_out_of_scope"),
        ("美女下班一起吃饭吗", "utter_decline_invitation"),
        ("你叫什么名字呀", "utter_agent_number"),
    ],
)
async def test_out_of_scope(text, expected):
    d, _ = await run_action(ActionHandleOutOfScope(), make_tracker(text, "out_of_scope"))
    assert responses(d) == [expected]


async def test_bargaining_climbs_the_ladder_then_holds():
    seen = []
    step = None
    for _ in range(5):
        d, events = await run_action(
            ActionRespondBargain(), make_tracker("能便宜点吗", "bargain", slots={"bargain_step": step})
        )
        seen += responses(d)
        step = events[0]["value"]
    assert seen == [
        "utter_bargain_step1",
        "utter_bargain_step2",
        "utter_bargain_step3",
        "utter_bargain_final",
        "utter_bargain_final",
    ]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("别家才卖39,你们能便宜点不", "utter_price_comparison"),
        ("我是学生党,便宜点呗", "utter_bargain_student"),
    ],
)
async def test_bargain_variants(text, expected):
    d, _ = await run_action(ActionRespondBargain(), make_tracker(text, "bargain"))
    assert responses(d) == [expected]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("有什么活动吗", "utter_ask_price"),
        ("会员有积分吗", "utter_membership"),
        ("可以拼团吗", "utter_group_buy"),
    ],
)
async def test_price_topics(text, expected):
    d, _ = await run_action(ActionAnswerPrice(), make_tracker(text, "ask_price"))
    assert responses(d) == [expected]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("支持什么付款方式", "utter_ask_payment"),
        ("可以用花呗分期吗", "utter_payment_instalment"),
        ("信用卡能付吗", "utter_payment_instalment"),
        ("能货到付款吗", "utter_payment_cod"),
        ("付款一直失败怎么办", "utter_payment_failed"),
        ("我已经付款了", "utter_payment_check"),
        ("付不了款,扣了钱订单还是未付款", "utter_payment_failed"),
    ],
)
async def test_payment_topics(text, expected):
    d, _ = await run_action(ActionAnswerPayment(), make_tracker(text, "ask_payment"))
    assert responses(d) == [expected]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("能开发票吗", "utter_ask_invoice"),
        ("請問可以開發票嗎", "utter_ask_invoice"),
        ("可以开专票吗", "utter_invoice_types"),
        ("抬头写公司名可以吗", "utter_invoice_title"),
        ("特价的也能开发票吗", "utter_invoice_any_order"),
    ],
)
async def test_invoice_topics(text, expected):
    d, _ = await run_action(ActionAnswerInvoice(), make_tracker(text, "ask_invoice"))
    assert responses(d) == [expected]


async def test_delayed_invoice_gets_a_kept_promise(shop_backend):
    t = make_tracker("发票怎么还没收到", "ask_invoice", metadata={"buyer_id": "buyer_002"})
    d, _ = await run_action(ActionAnswerInvoice(), t)
    assert responses(d) == ["utter_invoice_delay"]
    promises = await shop_backend.open_records(kind="follow_up")
    assert len(promises) == 1 and "invoice_reissue" in promises[0].text


@pytest.fixture()
def agents_online(monkeypatch):
    from xiaoer.store_config import StoreConfig

    def set_online(value: bool):
        monkeypatch.setattr(StoreConfig, "agents_online", lambda self, now=None: value)

    return set_online


async def test_complaint_is_acknowledged_categorised_and_handed_off(shop_backend, agents_online):
    agents_online(True)
    t = make_tracker("你们客服态度太差了,我要投诉", "complain", metadata={"buyer_id": "buyer_003"})
    d, events = await run_action(ActionStartHandoff(), t)
    assert responses(d)[:4] == [
        "utter_complaint_ack",
        "utter_complaint_restate",
        "utter_complaint_deadline",
        "utter_ask_name",
    ]
    handoff = d.messages[-1]["custom"]["handoff"]
    assert handoff["reason"] == "complaint" and handoff["category"] == "服务质量"
    assert handoff["deadline_hours"] == 2
    assert events == []  # plain REST client: nobody would answer a paused bot
    assert len(await shop_backend.open_records(kind="follow_up")) == 1


async def test_through_the_desk_the_bot_pauses(shop_backend, agents_online):
    agents_online(True)
    t = make_tracker("转人工", "request_human", metadata={"via": "desk"})
    d, events = await run_action(ActionStartHandoff(), t)
    assert responses(d)[0] == "utter_request_human_ack"
    assert events == [ConversationPaused()]


@pytest.mark.parametrize(
    "text, intent, first, reason, priority",
    [
        ("叫你们主管来", "request_human", "utter_request_supervisor_ack", "supervisor", "high"),
        ("垃圾店,骗子", "complain", "utter_abuse_calm", "abuse", "high"),
        ("快递太慢了,我要投诉物流", "complain", "utter_complaint_ack", "complaint", "normal"),
        ("我想投诉,你们发货太慢了", "complain", "utter_complaint_ack", "complaint", "normal"),
    ],
)
async def test_handoff_reasons(shop_backend, agents_online, text, intent, first, reason, priority):
    agents_online(True)
    d, _ = await run_action(ActionStartHandoff(), make_tracker(text, intent))
    assert responses(d)[0] == first
    assert d.messages[-1]["custom"]["handoff"]["reason"] == reason
    assert d.messages[-1]["custom"]["handoff"]["priority"] == priority


async def test_outside_agent_hours_the_shopper_leaves_a_message(shop_backend, agents_online):
    agents_online(False)
    d, _ = await run_action(ActionStartHandoff(), make_tracker("转人工", "request_human"))
    assert responses(d)[0] == "utter_offline"
    assert d.messages[-1]["custom"]["handoff"]["agents_online"] is False


@pytest.mark.parametrize("text", ["zxcvbnm qwe", "😂😂😂", "<script>alert(1)</script>"])
async def test_repeated_gibberish_is_not_recorded(shop_backend, text):
    t = make_tracker(text, "nlu_fallback", events=previous_turn("asdf", "nlu_fallback", "action_handle_fallback"))
    d, _ = await run_action(ActionHandleFallback(), t)
    assert responses(d) == ["utter_rephrase"]
    assert await shop_backend.open_records(kind="question") == []


@pytest.mark.parametrize(
    "text, category",
    [
        ("充电器用两天就坏了", "商品质量"),
        ("客服爱答不理的", "服务质量"),
        ("你们发货太慢了", "环境质量"),
        ("快递员态度恶劣", "环境质量"),
        ("快递小哥不打电话直接放驿站", "环境质量"),
        ("我就是不爽", None),
    ],
)
def test_complaint_categories(text, category):
    from actions.handoff import complaint_category

    assert complaint_category(text) == category


async def test_a_bare_order_number_is_looked_up():
    from rasa_sdk.events import FollowupAction

    t = make_tracker("DD20241101001", "inform", entities=[{"entity": "order_id", "value": "DD20241101001"}])
    d, events = await run_action(ActionHandleInform(), t)
    assert d.messages == [] and events == [FollowupAction("action_look_up_order")]
