"""Issue 13: what a shopper, an agent and a supervisor saw go wrong, against a fake Rasa."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from aiohttp import FormData

from desk.status import Status
from desk.tokens import issue_token
from shop.status import OrderStatus
from tests.desk.conftest import SECRET, handoff
from tests.desk.test_desk import PNG, complain, conv_id


async def upload_photo(desk, buyer="buyer_004"):
    form = FormData()
    form.add_field("photo", PNG, filename="p.png", content_type="image/png")
    r = await desk.client.post(
        "/api/shop/upload",
        data=form,
        headers={"Authorization": f"Bearer {issue_token(SECRET, buyer)}", "Origin": desk.origin},
    )
    assert r.status == 200, await r.text()


async def test_complaint_after_a_photo_is_answered_and_requalifies_the_queue_item(desk):
    ws = await desk.shopper()
    await upload_photo(desk)
    await desk.expect(ws, "message", lambda f: "照片已收到" in f["message"]["text"])
    await desk.login()
    [item] = await desk.queue()
    assert item["reason"] == "photos"
    desk.fake.replies = lambda text: [
        {"text": "非常抱歉给您添麻烦了,我们会在2小时内给您答复。"},
        handoff("complaint", "商品质量", "high", 2, summary="耳机一边没声音"),
    ]
    desk.clock.advance(minutes=1)
    await desk.say(ws, "耳机一边没声音,我要投诉")
    reply = (await desk.expect(ws, "message", lambda f: f["message"]["sender"] == "bot"))["message"]
    assert "非常抱歉" in reply["text"]
    # the replies are published first, then the queue item is re-qualified: the agent's queue
    # shows it a moment after the shopper reads the answer
    for _ in range(40):
        [item] = await desk.queue()
        if item["reason"] != "photos":
            break
        await asyncio.sleep(0.05)
    assert (item["reason"], item["priority"], item["summary"]) == ("complaint", "high", "耳机一边没声音")
    assert item["status"] == "queued" and item["waited_seconds"] == 60  # same place in the queue
    detail = await (await desk.client.get(f"/api/conversations/{item['id']}")).json()
    assert "conversation.requalified" in [e["name"] for e in detail["events"]]


async def test_low_rating_after_any_handled_conversation_raises_the_promised_warning(desk):
    ws = await desk.shopper()
    await upload_photo(desk)
    await desk.expect(ws, "status", lambda f: f["status"] == "queued")
    cid = await conv_id(desk)
    assert (await desk.post(f"/api/conversations/{cid}/claim")).status == 200
    assert (await desk.post(f"/api/conversations/{cid}/resolve")).status == 200
    await desk.expect(ws, "message", lambda f: f["message"].get("satisfaction"))
    await ws.send_json({"type": "rating", "score": 2, "comment": "没解决"})
    sorry = (await desk.expect(ws, "message", lambda f: "上报主管" in f["message"]["text"]))["message"]
    assert sorry["sender"] == "system"
    await desk.login("super1")
    warnings = (await (await desk.client.get("/api/queue")).json())["warnings"]
    assert [w["conversation_id"] for w in warnings] == [cid]
    assert "没解决" in warnings[0]["unhappy"]


async def test_waiting_shopper_is_told_the_place_and_follow_ups_are_acknowledged(desk):
    first, _ = await complain(desk, "buyer_005")
    ws = await desk.shopper("buyer_004")
    await desk.say(ws, "你们的台灯质量太差了,我要投诉")
    place = (await desk.expect(ws, "message", lambda f: "前面还有" in f["message"]["text"]))["message"]
    assert "前面还有 1 位" in place["text"] and "分钟" in place["text"]
    await desk.expect(ws, "status", lambda f: f["status"] == "queued")
    desk.clock.advance(minutes=1)
    await desk.say(ws, "人呢?怎么没人回复")
    ack = (await desk.expect(ws, "message", lambda f: f["message"]["sender"] == "system"))["message"]
    assert "客服已经看到" in ack["text"] and "前面还有 1 位" in ack["text"]
    await desk.say(ws, "快点")  # a burst gets one answer
    await asyncio.sleep(0.3)
    history = (await desk.shopper("buyer_004")).history["messages"]
    assert sum("客服已经看到" in m["text"] for m in history) == 1
    await desk.login()
    item = next(q for q in await desk.queue() if q["buyer_id"] == "buyer_004")
    assert item["followups"] == 2


def _emitted_events():
    names = set()
    for path in Path("desk").glob("*.py"):
        names |= set(re.findall(r"\"((?:conversation|warning|buyer|bot|guard|followup)\.[a-z_]+)\"", path.read_text()))
    return names


async def test_every_code_the_console_shows_has_a_label(desk):
    await desk.login()
    labels = await (await desk.client.get("/api/labels")).json()
    assert {s.value for s in OrderStatus} <= set(labels["order_status"])
    assert labels["order_status"]["refund_requested"] == "退款申请中"
    assert {"high", "normal", "low"} <= set(labels["priority"])
    assert {s.value for s in Status} <= set(labels["status"])
    assert _emitted_events() <= set(labels["event"]), _emitted_events() - set(labels["event"])
    console = Path("desk/static/console.js").read_text()
    assert "排队中" not in console and "照片待处理" not in console  # the words come from labels.yml


class Shop:
    """The shop backend's read side, with one old order outside the last five."""

    def __init__(self):
        self.orders = [
            {"order_id": f"DD2026110100{i:03d}", "status": "completed", "total": "9.90", "items": []} for i in range(7)
        ]

    async def get_buyer(self, buyer_id):
        return {"buyer_id": buyer_id, "name": "小王", "phone": "138****0000"}

    async def recent_orders(self, buyer_id, *, limit=5, statuses=None):
        return self.orders[:limit]

    async def get_order(self, order_id, *, buyer_id):
        return next((o for o in self.orders if o["order_id"] == order_id), None)


async def test_the_order_under_discussion_is_shown_first(aiohttp_client, make_config, fake_rasa, clock):
    from desk import create_app
    from tests.desk.conftest import Desk

    desk = Desk(await aiohttp_client(create_app(make_config(shop=Shop()))), fake_rasa, clock)
    old = "DD2026110100006"
    ws, _ = await complain(desk, text=f"订单{old}的台灯质量太差了,我要投诉")
    cid = await conv_id(desk)
    detail = await (await desk.client.get(f"/api/conversations/{cid}")).json()
    assert detail["discussed_order_id"] == old
    assert [o["order_id"] for o in detail["orders"]][:2] == [old, "DD2026110100000"]
    assert len(detail["orders"]) == 6
    # an order number of someone else is not shown
    await desk.say(ws, "还有 DD2099999999999")
    await asyncio.sleep(0.2)
    detail = await (await desk.client.get(f"/api/conversations/{cid}")).json()
    assert detail["discussed_order_id"] is None and old not in [o["order_id"] for o in detail["orders"]]


async def test_deadlines_count_agent_hours_only(desk):
    from datetime import datetime, timezone

    from tests.desk.conftest import OFFLINE

    desk.clock.now = OFFLINE  # 00:00 in Shanghai, agents from 09:00
    desk.fake.replies = lambda text: [
        {"text": "非常抱歉,客服上线后会第一时间联系您。"},
        handoff("complaint", "商品质量", "normal", 2, online=False),
    ]
    ws = await desk.shopper()
    await desk.say(ws, "台灯坏了,我要投诉")
    await desk.expect(ws, "status", lambda f: f["status"] == "waiting_offline")
    await desk.login()
    [item] = await desk.queue()
    # 2 agent hours: 09:00-11:00 Shanghai the next morning, not 02:00 tonight
    assert item["deadline_at"] == datetime(2026, 11, 21, 3, 0, tzinfo=timezone.utc).isoformat()
    assert item["on_duty"] is False
    desk.clock.advance(hours=3)  # 03:00 in Shanghai: nothing is overdue at night
    app_desk = desk.client.app[__import__("desk.web", fromlist=["DESK"]).DESK]
    assert (await app_desk.tick())["overdue"] == 0


async def test_the_widget_greets_before_the_shopper_types(desk):
    ws = await desk.shopper()
    assert ws.history["messages"] == [] and "欢迎光临" in ws.history["welcome"]


async def test_guard_suggestions_fit_the_store_category(desk):
    # store.yml sells 数码配件: 没货 becomes 没有现货, never the clothing word 断码
    await desk.login()
    r = await desk.post("/api/guard/check", {"text": "亲,这款耳机白色没货了"})
    verdict = await r.json()
    assert r.status == 200 and verdict["findings"]
    assert "断码" not in verdict["safe_text"] and "没有现货" in verdict["safe_text"]
    assert all("断码" not in (f.get("suggestion") or "") for f in verdict["findings"])


async def test_online_agents_get_waiting_conversations_oldest_first_within_their_cap(
    aiohttp_client, make_config, fake_rasa, clock
):
    from desk import auth, create_app
    from desk.web import ENGINE
    from tests.desk.conftest import PASSWORD, Desk

    client = await aiohttp_client(create_app(make_config(routing={"auto_assign": True, "max_chats_per_agent": 1})))
    desk = Desk(client, fake_rasa, clock)
    await auth.create_agent(
        client.app[ENGINE],
        "agent9",
        PASSWORD,
        number="9",
        at=clock(),
        hasher=auth.make_hasher({"time_cost": 1, "memory_cost": 1024, "parallelism": 1}),
    )
    shoppers = {}
    for _i, buyer in enumerate(("buyer_004", "buyer_005", "buyer_006")):
        shoppers[buyer], _ = await complain(desk, buyer)
        clock.advance(minutes=1)
    await desk.login("agent8")
    assert all(q["status"] == "queued" for q in await desk.queue())  # nobody online yet
    assert (await desk.post("/api/presence", {"status": "lunch"})).status == 400
    assert (await desk.post("/api/presence", {"status": "online"})).status == 200
    joined = await desk.expect(shoppers["buyer_004"], "message", lambda f: "工号 8" in f["message"]["text"])
    assert joined["message"]["sender"] == "system"
    by_buyer = {q["buyer_id"]: q for q in await desk.queue()}
    assert by_buyer["buyer_004"]["agent"] == "agent8"  # the oldest first
    assert by_buyer["buyer_005"]["status"] == by_buyer["buyer_006"]["status"] == "queued"  # cap 1
    await desk.login("agent9")
    await desk.post("/api/presence", {"status": "away"})
    assert {q["buyer_id"] for q in await desk.queue() if q["status"] == "queued"} == {"buyer_005", "buyer_006"}
    await desk.post("/api/presence", {"status": "online"})
    by_buyer = {q["buyer_id"]: q for q in await desk.queue()}
    assert by_buyer["buyer_005"]["agent"] == "agent9" and by_buyer["buyer_006"]["status"] == "queued"
    agents = {a["name"]: a["presence"] for a in await (await desk.client.get("/api/agents")).json()}
    assert agents == {"agent8": "online", "agent9": "online", "super1": "offline"}
    # agent8 resolves: the place is free, the last one waiting is theirs
    await desk.login("agent8")
    cid = by_buyer["buyer_004"]["id"]
    assert (await desk.post(f"/api/conversations/{cid}/resolve")).status == 200
    by_buyer = {q["buyer_id"]: q for q in await desk.queue()}
    assert by_buyer["buyer_006"]["agent"] == "agent8"
    events = [
        e["name"]
        for e in (await (await desk.client.get(f"/api/conversations/{by_buyer['buyer_006']['id']}")).json())["events"]
    ]
    assert "conversation.auto_assigned" in events


async def test_the_first_in_line_is_told_they_are_next(desk):
    ws = await desk.shopper()
    await desk.say(ws, "你们的台灯质量太差了,我要投诉")
    place = (await desk.expect(ws, "message", lambda f: f["message"]["sender"] == "system"))["message"]
    assert "您是下一位" in place["text"] and "0 位" not in place["text"]
