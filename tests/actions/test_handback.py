"""Issue 13, defect 4: after an agent's 解决 the bot continues the case, asserted on
what the shopper reads (Rasa's RemoteAction code + the project's NLG and guard)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions import handback as hb
from actions.fallback import ActionHandleFallback, ActionHandleOutOfScope
from actions.handback import ActionContinueHandback, ActionNoteHandback
from actions.handoff import ActionStartHandoff
from tests.actions.conftest import make_tracker, run_action, shopper_sees, texts
from xiaoer.handback import utc_now

ACTIONS = {
    a.name(): a
    for a in (ActionContinueHandback(), ActionHandleFallback(), ActionHandleOutOfScope(), ActionStartHandoff())
}
NONE = (
    "亲,我这边暂时没有查到您之前问题的处理记录,麻烦您再描述一下遇到的情况(有订单号更好哦),"
    "或者点下方按钮联系人工客服为您查询。"
)
ENTITIES = [
    {"entity": "handback_summary", "value": "已经为您安排补发一台新的耳机,明天发出,旧的不用寄回"},
    {"entity": "handback_category", "value": "商品质量"},
    {"entity": "order_id", "value": "DD20241101001"},
    {"entity": "handback_agent", "value": "8"},
]


async def noted(entities=ENTITIES):
    """The slots action_note_handback sets on the desk's external event."""
    tracker = make_tracker("", "EXTERNAL_handback", entities=entities)
    dispatcher, events = await run_action(ActionNoteHandback(), tracker)
    assert dispatcher.messages == []  # the desk already said goodbye / asked for the rating
    return {e["name"]: e["value"] for e in events if e["event"] == "slot"}


async def converse(text, intent, slots):
    """Run action_continue_handback and whatever it hands on to (FollowupAction, as Rasa would)."""
    tracker = make_tracker(text, intent, slots=slots, metadata={"buyer_id": "buyer_001", "via": "desk"})
    dispatcher, action, ran, events = CollectingDispatcher(), "action_continue_handback", [], []
    for _ in range(3):
        ran.append(action)
        new = await ACTIONS[action].run(dispatcher, tracker, {})
        events += new
        follow = [e for e in new if e.get("event") == "followup"]
        if not follow:
            break
        action = follow[0]["name"]
    return await shopper_sees(dispatcher, text, slots), ran, events


async def test_the_handback_event_keeps_the_agents_resolution_in_slots():
    slots = await noted()
    assert slots["handback_open"] is True
    assert slots["handback_summary"] == "已经为您安排补发一台新的耳机,明天发出,旧的不用寄回"
    assert (slots["handback_category"], slots["handback_agent"], slots["order_id"]) == (
        "商品质量",
        "8",
        "DD20241101001",
    )
    assert abs(hb.parse_at(slots["handback_at"]) - utc_now()) < timedelta(minutes=1)


async def test_hostile_entities_are_not_kept():
    slots = await noted(
        [
            {"entity": "order_id", "value": "; drop table"},
            {"entity": "handback_summary", "value": ["x"]},
            {"entity": "handback_agent", "value": True},
        ]
    )
    assert slots["handback_open"] is True and slots["handback_summary"] is None and slots["handback_agent"] is None
    assert "order_id" not in slots


@pytest.mark.parametrize(
    "text,intent",
    [
        ("刚才那个问题怎么样了", "out_of_scope"),
        ("耳机补发了吗", "nlu_fallback"),
        ("DD20241101001 这个呢", "out_of_scope"),
        ("还是没声音啊", "out_of_scope"),
    ],
)
async def test_a_message_about_the_resolved_case_gets_the_agents_resolution_and_a_way_back(text, intent):
    seen, ran, _ = await converse(text, intent, await noted())
    assert ran == ["action_continue_handback"]
    [reply] = seen
    assert "工号 8" in reply["text"] and "已经为您安排补发一台新的耳机,明天发出" in reply["text"]
    assert "订单 DD20241101001" in reply["text"] and "还有其他问题吗" in reply["text"]
    assert [b["title"] for b in reply["buttons"]] == ["再次联系人工客服", "没有了,谢谢"]
    assert "不好意思" not in reply["text"]


async def test_without_a_summary_the_category_is_acknowledged():
    slots = await noted(
        [{"entity": "handback_category", "value": "环境质量"}, {"entity": "handback_agent", "value": "12"}]
    )
    seen, _, _ = await converse("刚才说的那个事呢", "out_of_scope", slots)
    [text] = texts(seen)
    assert "环境质量问题" in text and "工号 12" in text and "已经为您处理过了" in text


async def test_a_message_about_something_else_gets_the_ordinary_answer_in_the_same_action():
    # in the same action, not via FollowupAction: after a FollowupAction no rule says what
    # comes next and the core fallback answered a second time (seen against the real stack)
    slots = await noted()
    ordinary, _, _ = await converse_plain("今天天气真好啊", "out_of_scope")
    seen, ran, _ = await converse("今天天气真好啊", "out_of_scope", slots)
    assert ran == ["action_continue_handback"]
    assert "工号" not in texts(seen)[0] and "范围" in texts(seen)[0]
    seen, ran, _ = await converse("asdfgh", "nlu_fallback", slots)
    assert ran == ["action_continue_handback"] and any(w in texts(seen)[0] for w in ("复述", "换个说法", "重复"))
    # another order number is another matter, even with words pointing back
    seen, _, _ = await converse("刚才那个 DD20241105009 呢", "out_of_scope", slots)
    assert "工号" not in texts(seen)[0]


async def converse_plain(text, intent):
    tracker = make_tracker(text, intent, metadata={"buyer_id": "buyer_001"})
    dispatcher, _ = await run_action(ActionHandleOutOfScope(), tracker)
    return await shopper_sees(dispatcher, text), None, None


async def test_a_day_later_the_case_is_closed_for_the_bot_too(monkeypatch):
    slots = await noted()
    monkeypatch.setattr(hb, "now", lambda: utc_now() + timedelta(hours=25))
    seen, _, events = await converse("刚才那个问题怎么样了", "out_of_scope", slots)
    assert "工号" not in texts(seen)[0] and "范围" in texts(seen)[0]
    cleared = {e["name"]: e["value"] for e in events if e.get("event") == "slot"}
    assert cleared == {s: None for s in hb.SLOTS}
    seen, _, _ = await converse("刚才那个问题怎么样了", "ask_case_progress", slots)
    assert texts(seen) == [NONE]


async def test_asked_how_the_case_stands_in_so_many_words():
    seen, _, _ = await converse("那件事处理得怎么样了", "ask_case_progress", await noted())
    assert "已经为您安排补发一台新的耳机" in texts(seen)[0]
    # with no case handed back: no invented answer, the way to a human
    seen, _, _ = await converse("刚才那个问题怎么样了", "ask_case_progress", {})
    [reply] = seen
    assert reply["text"] == NONE and [b["payload"] for b in reply["buttons"]] == ["转人工客服"]


async def test_abuse_about_the_case_still_goes_to_a_supervisor():
    seen, ran, _ = await converse("刚才那个问题你们就是一群骗子垃圾", "out_of_scope", await noted())
    assert "action_start_handoff" in ran
