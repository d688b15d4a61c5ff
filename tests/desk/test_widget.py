"""Issue 13, widget extras on the desk's side: the widget's words from messages.yml,
order buttons as cards, and read marks when the serving agent has seen the messages."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import yaml

from desk import create_app
from tests.desk.conftest import Desk
from tests.desk.test_desk import complain, conv_id

ROOT = Path(__file__).resolve().parents[2]
ORDER_LIST = [
    {
        "text": "亲,您最近的订单有这些,请问是哪一个呢?",
        "buttons": [
            {"title": "DD20241117001 待发货 星耀65W氮化镓充电器(白色) ×1", "payload": "DD20241117001"},
            {
                "title": "DD20241115001 运输中 星耀降噪蓝牙耳机(黑色) ×1、星耀编织数据线(白色 / 1米) ×2",
                "payload": "DD20241115001",
            },
            {"title": "查物流", "payload": "我的订单到哪了"},
        ],
    }
]


def test_the_widget_writes_no_chinese_of_its_own():
    js = (ROOT / "desk" / "static" / "widget.js").read_text(encoding="utf-8")
    code = re.sub(r"/\*.*?\*/|//[^\n]*", "", js, flags=re.S)  # comments may explain in Chinese
    assert re.findall(r"[\u4e00-\u9fff]+", code) == []


async def test_the_widget_words_come_from_messages_yml(desk):
    r = await desk.client.get("/widget/words.json")
    assert r.status == 200
    words = await r.json()
    mine = yaml.safe_load((ROOT / "desk" / "messages.yml").read_text(encoding="utf-8"))["widget"]
    assert words["launcher"] == mine["launcher"] == "咨询客服" and words["read"] == "已读"
    assert len(words["emojis"]) >= 12 and "👍" in words["emojis"]
    # the notices the widget shows itself, with the desk's limits filled in
    assert words["too_long"] == "亲,您的消息太长了(最多 1000 个字),请分几次发送哦。"
    assert words["limits"] == {"message_chars": 1000, "photos": 3, "photo_bytes": 3_000_000}


async def test_order_buttons_become_cards_from_what_the_bot_wrote(desk):
    desk.fake.replies = lambda text: ORDER_LIST
    ws = await desk.shopper()
    await desk.say(ws, "我的订单")
    msg = (await desk.expect(ws, "message", lambda f: f["message"]["sender"] == "bot"))["message"]
    first, second, plain = msg["buttons"]
    assert first["card"] == {
        "order_id": "DD20241117001",
        "status": "待发货",
        "name": "星耀65W氮化镓充电器(白色) ×1",
        "more": 0,
        "thumb": "🔌",
    }
    assert second["card"]["status"] == "运输中" and second["card"]["more"] == 1 and second["card"]["thumb"] == "🎧"
    assert "card" not in plain
    # the history after a reload has them too
    again = await desk.shopper()
    assert again.history["messages"][-1]["buttons"][0]["card"]["status"] == "待发货"


async def test_order_cards_from_the_shop_only_for_the_buyers_own_orders(
    aiohttp_client, make_config, fake_rasa, clock, tmp_path
):
    from shop.sql import SqlShop
    from tests.actions.test_orders import ALICE, BOB_PAID, IN_TRANSIT, seed_shop

    shop = SqlShop(f"sqlite+aiosqlite:///{tmp_path / 'shop.db'}")
    await shop.start()
    try:
        await seed_shop(shop)
        desk = Desk(await aiohttp_client(create_app(make_config(shop=shop))), fake_rasa, clock)
        fake_rasa.replies = lambda text: [
            {
                "text": "请问是哪一个订单?",
                "buttons": [
                    {"title": f"{IN_TRANSIT} 运输中 某商品 ×1", "payload": IN_TRANSIT},
                    {"title": BOB_PAID, "payload": BOB_PAID},
                ],
            }
        ]
        ws = await desk.shopper(ALICE)
        await desk.say(ws, "我的订单")
        msg = (await desk.expect(ws, "message", lambda f: f["message"]["sender"] == "bot"))["message"]
        mine, other = msg["buttons"]
        order = await shop.get_order(IN_TRANSIT, buyer_id=ALICE)
        assert mine["card"]["name"] == order.items[0].name and mine["card"]["status"] == order.status.label_zh
        assert mine["card"]["thumb"] and mine["card"]["order_id"] == IN_TRANSIT
        assert "card" not in other  # someone else's order: nothing about it
    finally:
        await shop.close()


async def test_the_shopper_sees_read_when_the_serving_agent_opened_the_conversation(desk):
    ws, _ = await complain(desk)
    assert ws.history["read_up_to"] == 0
    cid = await conv_id(desk)
    # looking at a queue item is not reading it for the shopper: nobody serves them yet
    await desk.client.get(f"/api/conversations/{cid}")
    assert (await desk.post(f"/api/conversations/{cid}/claim")).status == 200
    await desk.client.get(f"/api/conversations/{cid}")
    last_shopper = max(
        m["id"]
        for m in (await (await desk.client.get(f"/api/conversations/{cid}")).json())["messages"]
        if m["sender"] == "shopper"
    )
    read = await desk.expect(ws, "read")
    assert read == {"type": "read", "up_to": last_shopper}
    # a new message while the agent has the conversation open: the console says so on its socket
    console = await desk.client.ws_connect("/ws/console", headers={"Origin": desk.origin})
    await desk.say(ws, "是左边耳机没声音")
    await asyncio.sleep(0.2)
    await console.send_json({"type": "read", "conversation_id": cid})
    newer = await desk.expect(ws, "read")
    assert newer["up_to"] > last_shopper
    # a reload shows the marks; a bad frame keeps the console socket open
    assert (await desk.shopper()).history["read_up_to"] == newer["up_to"]
    await console.send_json({"type": "read", "conversation_id": ["x"]})
    await console.send_json({"type": "ping"})
    assert (await desk.expect(console, "pong"))["type"] == "pong"


async def test_another_agents_look_marks_nothing_read(desk):
    ws, _ = await complain(desk)
    cid = await conv_id(desk)
    assert (await desk.post(f"/api/conversations/{cid}/claim")).status == 200
    await desk.client.get(f"/api/conversations/{cid}")  # the console reloads it after the claim
    await desk.expect(ws, "read")
    await desk.say(ws, "还在吗")
    await asyncio.sleep(0.2)
    await desk.post("/api/logout")
    await desk.login("super1")
    await desk.client.get(f"/api/conversations/{cid}")  # a supervisor looking on
    await desk.login("agent8")
    r = await desk.post(f"/api/conversations/{cid}/reply", {"text": "在的,请您稍等"})
    assert r.status == 200
    frame = await desk.expect(ws, "read")  # only the serving agent's reply marks it
    detail = await (await desk.client.get(f"/api/conversations/{cid}")).json()
    reads = [e for e in detail["events"] if e["name"] == "messages.read"]
    assert [e["actor"] for e in reads] == ["agent8", "agent8"] and reads[-1]["data"]["up_to"] == frame["up_to"]
