"""Issue 13, defect 4: resolving tells the bot what the agent resolved (EXTERNAL_handback)."""

from __future__ import annotations

from desk.handback import resolution_summary
from tests.desk.test_desk import complain, conv_id


async def _claim_and_reply(desk, text):
    cid = await conv_id(desk)
    assert (await desk.post(f"/api/conversations/{cid}/claim")).status == 200
    r = await desk.post(f"/api/conversations/{cid}/reply", {"text": text})
    assert r.status == 200, await r.text()
    return cid


async def test_resolving_sends_the_agents_resolution_to_the_bot_after_the_resume(desk):
    ws, _ = await complain(desk, text="订单DD20241101001的台灯质量太差了,我要投诉")
    cid = await _claim_and_reply(desk, "已经为您安排补发一台新的台灯,明天发出,旧的不用寄回。")
    await desk.post(f"/api/conversations/{cid}/reply", {"text": "好的"})
    assert desk.fake.triggers == []
    assert (await desk.post(f"/api/conversations/{cid}/resolve")).status == 200
    [trigger] = desk.fake.triggers
    assert trigger["sender"] == cid and trigger["token"] == "rasa-token"
    assert trigger["name"] == "EXTERNAL_handback"
    # the agent's words (not the closing 好的), the category, the order under discussion, the agent
    assert trigger["entities"] == {
        "handback_summary": "已经为您安排补发一台新的台灯,明天发出,旧的不用寄回。",
        "handback_category": "商品质量",
        "order_id": "DD20241101001",
        "handback_agent": "8",
    }
    # after the resume, never before: a paused bot would not run the action
    assert desk.fake.tracker_posts[-1]["events"][0] == {"event": "resume"}


async def test_hand_back_without_rating_also_tells_the_bot_and_takes_a_typed_summary(desk):
    await complain(desk)
    cid = await _claim_and_reply(desk, "您好,我看一下")
    r = await desk.post(f"/api/conversations/{cid}/handback", {"summary": "已退款 29.9 元,1-3 个工作日到账"})
    assert r.status == 200
    [trigger] = desk.fake.triggers
    assert trigger["entities"]["handback_summary"] == "已退款 29.9 元,1-3 个工作日到账"
    assert "order_id" not in trigger["entities"]


async def test_a_bad_summary_body_is_a_clean_400_and_nothing_is_resolved(desk):
    await complain(desk)
    cid = await _claim_and_reply(desk, "已为您处理好了")
    r = await desk.client.post(f"/api/conversations/{cid}/resolve", data="[1,", headers={"Origin": desk.origin})
    assert r.status == 400
    assert desk.fake.triggers == []
    assert (await desk.post(f"/api/conversations/{cid}/resolve", {"summary": 5})).status == 200
    assert desk.fake.triggers[0]["entities"]["handback_summary"] == "已为您处理好了"


def test_summary_is_the_agents_last_real_reply_shortened():
    msgs = [
        {"sender": "agent", "text": "已为您登记换货," + "很长" * 40},
        {"sender": "agent", "text": "不客气"},
        {"sender": "shopper", "text": "谢谢"},
    ]
    summary = resolution_summary(msgs)
    assert summary.startswith("已为您登记换货,") and summary.endswith("……") and len(summary) == 62
    assert resolution_summary([{"sender": "shopper", "text": "你好"}]) == ""
    assert resolution_summary(msgs, "  补发\x07已安排 ") == "补发已安排"
