"""The desk against a fake Rasa: what shoppers and agents see."""

from __future__ import annotations

import asyncio
import json
import re

from aiohttp import FormData, WSMsgType

from desk import create_app
from desk.tokens import issue_token, verify_token
from tests.desk.conftest import OFFLINE, PASSWORD, SECRET, Desk, handoff

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


async def complain(desk, buyer="buyer_004", text="你们的台灯质量太差了,我要投诉"):
    ws = await desk.shopper(buyer)
    await desk.say(ws, text)
    await desk.expect(ws, "status", lambda f: f["status"] == "queued")
    q = await desk.queue() if await _logged_in(desk) else None
    return ws, q


async def _logged_in(desk):
    return (await desk.client.get("/api/me")).status == 200


async def conv_id(desk, buyer="buyer_004"):
    await desk.login()
    q = await desk.queue()
    return next(c["id"] for c in q if c["buyer_id"] == buyer)


async def test_bot_reply_is_relayed_with_buttons_and_buyer_metadata(desk):
    ws = await desk.shopper("buyer_004")
    await desk.say(ws, "你好")
    msg = (await desk.expect(ws, "message", lambda f: f["message"]["sender"] == "bot"))["message"]
    assert msg["text"] == "收到:你好"
    assert msg["buttons"] == [{"title": "查物流", "payload": "我的订单到哪了"}]
    meta = desk.fake.received[-1]["metadata"]
    # desk_turn: the id a failover looks up in the shared tracker (issue 12)
    assert meta == {"buyer_id": "buyer_004", "via": "desk", "desk_turn": meta["desk_turn"]} and meta["desk_turn"]


async def test_handoff_queues_hides_payload_and_relays_later_messages_to_agents(desk):
    ws = await desk.shopper()
    await desk.say(ws, "你们的台灯质量太差了,我要投诉")
    frames = []
    while True:
        f = await desk.expect(ws, "message")
        frames.append(f["message"])
        if f["message"]["sender"] == "bot":
            break
    status = await desk.expect(ws, "status")
    assert status["status"] == "queued"
    assert all("custom" not in m and "handoff" not in json.dumps(m) for m in frames)
    cid = await conv_id(desk)
    [item] = await desk.queue()
    assert (item["reason"], item["category"], item["priority"]) == ("complaint", "商品质量", "normal")
    assert item["deadline_seconds"] == 2 * 3600
    sent = len(desk.fake.received)
    await desk.say(ws, "还在吗?快点处理")
    await asyncio.sleep(0.2)
    assert len(desk.fake.received) == sent  # the paused bot is not asked
    detail = await (await desk.client.get(f"/api/conversations/{cid}")).json()
    assert detail["messages"][-2]["text"] == "还在吗?快点处理"
    assert "客服已经看到" in detail["messages"][-1]["text"]  # the follow-up is acknowledged (#13)
    assert detail["understood"][0]["intent"] == "complain"
    assert [e["name"] for e in detail["events"]][:2] == ["conversation.started", "conversation.queued"]
    # the shopper's own history never contains the payload
    ws2 = await desk.shopper()
    assert "handoff" not in json.dumps(ws2.history)


async def test_claim_reply_resolve_resume_and_satisfaction(desk):
    ws, _ = await complain(desk)
    cid = await conv_id(desk)
    r = await desk.post(f"/api/conversations/{cid}/claim")
    assert r.status == 200
    joined = (await desk.expect(ws, "message", lambda f: f["message"]["sender"] == "system"))["message"]
    assert "工号 8 为您服务" in joined["text"]
    # only one agent owns it
    await desk.login("super1")
    assert (await desk.post(f"/api/conversations/{cid}/claim")).status == 409
    await desk.login("agent8")
    r = await desk.post(f"/api/conversations/{cid}/reply", {"text": "非常抱歉给您添麻烦了,请您拍张照片给我好吗?"})
    assert r.status == 200, await r.text()
    reply = (await desk.expect(ws, "message", lambda f: f["message"]["sender"] == "agent"))["message"]
    assert reply["text"] == "非常抱歉给您添麻烦了,请您拍张照片给我好吗?" and reply["agent_number"] == "8"
    r = await desk.post(f"/api/conversations/{cid}/resolve")
    assert r.status == 200
    assert desk.fake.tracker_posts == [
        {
            "sender": cid,
            "token": "rasa-token",
            "events": [{"event": "resume"}, {"event": "action", "name": "action_listen"}],
        }
    ]
    ask = (await desk.expect(ws, "message", lambda f: f["message"].get("satisfaction")))["message"]
    assert "1-5" in ask["text"] and "工号 8" in ask["text"]
    await ws.send_json({"type": "rating", "score": 5, "comment": "很好"})
    thanks = (await desk.expect(ws, "message", lambda f: f["message"]["sender"] == "system"))["message"]
    assert "谢谢您的评价" in thanks["text"]
    detail = await (await desk.client.get(f"/api/conversations/{cid}")).json()
    assert detail["ratings"][0]["score"] == 5 and detail["ratings"][0]["comment"] == "很好"
    assert detail["conversation"]["status"] == "bot"
    # back with the bot
    await desk.say(ws, "你好")
    bot = (await desk.expect(ws, "message", lambda f: f["message"]["sender"] == "bot"))["message"]
    assert bot["text"] == "收到:你好"


async def test_handback_without_rating(desk):
    ws, _ = await complain(desk)
    cid = await conv_id(desk)
    await desk.post(f"/api/conversations/{cid}/claim")
    assert (await desk.post(f"/api/conversations/{cid}/handback")).status == 200
    assert desk.fake.tracker_posts[0]["events"][0] == {"event": "resume"}
    back = (await desk.expect(ws, "message", lambda f: "随时在这里问我" in f["message"]["text"]))["message"]
    assert "satisfaction" not in back


async def test_offline_hours_wait_with_contact(desk):
    desk.clock.now = OFFLINE
    desk.fake.replies = lambda text: [
        {"text": "您好,很高兴为您服务,当前非人工客服在线时间。请留下您想咨询的问题和联系方式"},
        handoff("request_human", None, "low", 2, online=False),
    ]
    ws = await desk.shopper()
    await desk.say(ws, "转人工")
    st = await desk.expect(ws, "status")
    assert st["status"] == "waiting_offline"
    await desk.say(ws, "我的台灯不亮,电话13812345678")
    await asyncio.sleep(0.2)
    await desk.login()
    [item] = await desk.queue()
    # the queue shows the contact masked; the conversation, to its owner, in full (tests/security)
    assert item["status"] == "waiting_offline" and item["contact"] == "138****5678"
    assert len(desk.fake.received) == 1


async def test_rasa_down_gets_polite_reply_and_queue(desk):
    desk.fake.down = True
    ws = await desk.shopper()
    await desk.say(ws, "我的快递怎么还没到")
    msg = (await desk.expect(ws, "message", lambda f: f["message"]["sender"] == "system"))["message"]
    assert msg["text"].startswith("对不起,线路正在调整")
    cid = await conv_id(desk)
    [item] = await desk.queue()
    assert item["reason"] == "bot_unavailable" and item["status"] == "queued"
    detail = await (await desk.client.get(f"/api/conversations/{cid}")).json()
    assert detail["messages"][0]["text"] == "我的快递怎么还没到"


async def test_rasa_empty_reply_is_treated_as_down(desk):
    desk.fake.replies = lambda text: []
    ws = await desk.shopper()
    await desk.say(ws, "在吗")
    msg = (await desk.expect(ws, "message", lambda f: f["message"]["sender"] == "system"))["message"]
    assert "线路正在调整" in msg["text"]


async def test_rasa_unreachable(aiohttp_client, make_config, fake_rasa, clock):
    client = await aiohttp_client(create_app(make_config(rasa_url="http://127.0.0.1:9", rasa_timeout=2)))
    d = Desk(client, fake_rasa, clock)
    ws = await d.shopper()
    await d.say(ws, "你好")
    msg = (await d.expect(ws, "message", lambda f: f["message"]["sender"] == "system"))["message"]
    assert "线路正在调整" in msg["text"]


async def test_rasa_too_slow(aiohttp_client, make_config, fake_rasa, clock):
    fake_rasa.delay = 3
    client = await aiohttp_client(create_app(make_config(rasa_timeout=0.5)))
    d = Desk(client, fake_rasa, clock)
    ws = await d.shopper()
    await d.say(ws, "你好")
    msg = (await d.expect(ws, "message", lambda f: f["message"]["sender"] == "system"))["message"]
    assert "线路正在调整" in msg["text"]


async def test_escalation_ladder_with_fake_clock(desk):
    ws, _ = await complain(desk)
    cid = await conv_id(desk)
    await desk.login("super1")  # notes: the owner or a supervisor (nobody owns it yet)
    await desk.post(f"/api/conversations/{cid}/note", {"text": "已联系仓库核实批次"})
    await desk.login("agent8")
    app_desk = desk.client.app[__import__("desk.web", fromlist=["DESK"]).DESK]
    desk.clock.advance(hours=1)
    assert (await app_desk.tick())["overdue"] == 0
    desk.clock.advance(hours=1, minutes=1)
    counts = await app_desk.tick()
    assert counts["overdue"] == 1 and counts["warnings"] == 1
    assert (await desk.queue())[0]["overdue"] is True
    # the agent does not see warnings; the supervisor does
    assert "warnings" not in await (await desk.client.get("/api/queue")).json()
    await desk.login("super1")
    [w] = (await (await desk.client.get("/api/queue")).json())["warnings"]
    assert "台灯质量太差" in w["problem"] and "商品质量" in w["problem"]
    assert "已联系仓库核实批次" in w["handling"]
    assert "2 小时" in w["unhappy"]
    assert w["step_label"].startswith("形成投诉预警信息") and w["overdue"] is False
    desk.clock.advance(minutes=31)
    assert (await app_desk.tick())["steps_overdue"] == 1
    r = await desk.post(f"/api/warnings/{w['id']}/advance")
    assert r.status == 200
    [w] = (await (await desk.client.get("/api/queue")).json())["warnings"]
    assert w["step"] == 1 and w["overdue"] is False and w["step_label"] == "客服主管审核预警信息"
    desk.clock.advance(hours=48)
    assert (await app_desk.tick())["closed_unsatisfied"] == 1
    assert (await desk.client.get("/api/queue")).status == 401  # the 12 h session ran out meanwhile
    await desk.login("super1")
    assert (await (await desk.client.get("/api/queue")).json())["warnings"] == []


async def test_agents_cannot_advance_warnings(desk):
    await complain(desk)
    await desk.login()
    app_desk = desk.client.app[__import__("desk.web", fromlist=["DESK"]).DESK]
    desk.clock.advance(hours=3)
    await app_desk.tick()
    [w] = await app_desk.warnings()
    assert (await desk.post(f"/api/warnings/{w['id']}/advance")).status == 403


async def test_unsatisfied_rating_raises_warning(desk):
    ws, _ = await complain(desk)
    cid = await conv_id(desk)
    await desk.post(f"/api/conversations/{cid}/claim")
    await desk.post(f"/api/conversations/{cid}/resolve")
    await desk.expect(ws, "message", lambda f: f["message"].get("satisfaction"))
    await ws.send_json({"type": "rating", "score": 1, "comment": "还是没解决"})
    sorry = (await desk.expect(ws, "message", lambda f: f["message"]["sender"] == "system"))["message"]
    assert "上报主管" in sorry["text"]
    await desk.login("super1")
    [w] = (await (await desk.client.get("/api/queue")).json())["warnings"]
    assert w["trigger"] == "unsatisfied" and "还是没解决" in w["unhappy"]


async def test_restart_keeps_queue_and_timers(aiohttp_client, make_config, fake_rasa, clock):
    config = make_config()
    client = await aiohttp_client(create_app(config))
    d = Desk(client, fake_rasa, clock)
    ws, _ = await complain(d)
    await ws.close()
    await client.close()
    # a new process on the same database file
    client2 = await aiohttp_client(create_app(make_config()))
    d2 = Desk(client2, fake_rasa, clock)
    await d2.login()
    [item] = await d2.queue()
    assert item["status"] == "queued" and item["reason"] == "complaint"
    clock.advance(hours=3)
    app_desk = client2.app[__import__("desk.web", fromlist=["DESK"]).DESK]
    assert (await app_desk.tick())["warnings"] == 1
    ws2 = await d2.shopper()
    assert any("台灯质量太差" in m["text"] for m in ws2.history["messages"])


async def test_guard_blocks_agent_draft(desk):
    ws, _ = await complain(desk)
    cid = await conv_id(desk)
    await desk.post(f"/api/conversations/{cid}/claim")
    check = await (await desk.post("/api/guard/check", {"text": "亲,这个没有发票哦"})).json()
    assert check["blocked"] is True and check["findings"][0]["severity"] == "block"
    r = await desk.post(f"/api/conversations/{cid}/reply", {"text": "亲,这个没有发票哦"})
    assert r.status == 422
    body = await r.json()
    assert body["sent"] is False and body["guard"]["safe_text"]
    detail = await (await desk.client.get(f"/api/conversations/{cid}")).json()
    assert all(m["sender"] != "agent" for m in detail["messages"])
    assert "guard.blocked" in [e["name"] for e in detail["events"]]


async def test_token_tampering_is_refused(desk):
    good = issue_token(SECRET, "buyer_004")
    payload, sig = good.split(".")
    forged = issue_token("another-secret", "buyer_005")
    swapped = forged.split(".")[0] + "." + sig
    for token in (forged, swapped, good + "x", "garbage", "", "é.é"):
        ws = await desk.client.ws_connect("/ws/shop", headers={"Origin": desk.origin})
        await ws.send_json({"type": "auth", "token": token})
        frame = await ws.receive_json(timeout=5)
        assert frame["type"] == "error" and frame["error"] == "bad_token", token
        assert (await ws.receive(timeout=5)).type in (WSMsgType.CLOSE, WSMsgType.CLOSED)
    assert verify_token(SECRET, good) == "buyer_004"
    # a shopper's photo cannot be read with another buyer's token
    ws = await desk.shopper("buyer_004")
    form = FormData()
    form.add_field("photo", PNG, filename="a.png", content_type="image/png")
    r = await desk.client.post(
        "/api/shop/upload", data=form, headers={"Authorization": f"Bearer {good}", "Origin": desk.origin}
    )
    url = (await r.json())["photos"][0]["url"]  # signed, short-lived
    bare = url.split("?")[0]
    assert (await desk.client.get(bare, params={"t": good})).status == 403  # the bearer token opens nothing
    assert (await desk.client.get(url.replace("&s=", "&s=x"))).status == 403
    assert (await desk.client.get(url)).status == 200


async def test_websocket_origin_is_checked(desk):
    for headers in ({"Origin": "http://evil.example"}, {}):
        r = await desk.client.get("/ws/shop", headers=headers)
        assert r.status == 403
    r = await desk.client.post(
        "/api/login", json={"name": "agent8", "password": PASSWORD}, headers={"Origin": "http://evil.example"}
    )
    assert r.status == 403


async def test_allowed_origin_from_config(aiohttp_client, make_config, fake_rasa, clock):
    client = await aiohttp_client(create_app(make_config(allowed_origins=["https://shop.example"])))
    d = Desk(client, fake_rasa, clock)
    ws = await d.shopper(origin="https://shop.example")
    assert ws.history["status"] == "bot"


async def test_slash_messages_never_reach_rasa_as_commands(desk):
    ws = await desk.shopper()
    await desk.say(ws, "/restart")
    await desk.expect(ws, "message", lambda f: f["message"]["sender"] == "bot")
    # sent as typed: the one "/" guard is inside Rasa, after normalisation (tests/security)
    assert desk.fake.received[-1]["message"] == "/restart"
    await desk.say(ws, "质量太差我要投诉")
    await desk.expect(ws, "status", lambda f: f["status"] == "queued")
    n = len(desk.fake.received)
    await desk.say(ws, "/restart")
    await desk.say(ws, '/inform{"order_id": "DD1"}')
    await asyncio.sleep(0.2)
    assert len(desk.fake.received) == n
    await desk.login()
    [item] = await desk.queue()
    assert item["status"] == "queued"


async def test_agent_endpoints_require_a_session(desk):
    assert (await desk.client.get("/api/queue")).status == 401
    assert (await desk.post("/api/guard/check", {"text": "你好"})).status == 401
    assert (await desk.login(password="wrong password")).status == 401
    assert (await desk.client.get("/ws/console", headers={"Origin": desk.origin})).status == 401
    assert (await desk.login()).status == 200
    assert (await desk.client.get("/api/queue")).status == 200
    assert (await desk.post("/api/logout")).status == 200
    assert (await desk.client.get("/api/queue")).status == 401


async def test_bad_input_is_answered_politely(desk):
    ws = await desk.shopper()
    await desk.say(ws, "   ")
    assert "没有输入内容" in (await desk.expect(ws, "notice"))["text"]
    await desk.say(ws, "好" * 1001)
    assert "太长" in (await desk.expect(ws, "notice"))["text"]
    await ws.send_bytes(b"\x00\x01\x02")
    assert "只能发送文字" in (await desk.expect(ws, "notice"))["text"]
    await ws.send_str("not json")
    assert "只能发送文字" in (await desk.expect(ws, "notice"))["text"]
    html = "<img src=x onerror=alert(1)>'; DROP TABLE desk_messages;-- 😀"
    await desk.say(ws, html)
    mine = (await desk.expect(ws, "message", lambda f: f["message"]["sender"] == "shopper"))["message"]
    assert mine["text"] == html  # stored and returned verbatim; the widget renders it as text
    await desk.expect(ws, "message", lambda f: f["message"]["sender"] == "bot")
    assert desk.fake.received[-1]["message"] == html


async def test_rate_limit_per_connection(desk):
    ws = await desk.shopper()
    for i in range(9):
        await desk.say(ws, f"第{i}条")
    assert "太快" in (await desk.expect(ws, "notice", timeout=10))["text"]


async def test_history_restored_on_reconnect(desk):
    ws = await desk.shopper()
    await desk.say(ws, "你好")
    await desk.expect(ws, "message", lambda f: f["message"]["sender"] == "bot")
    await ws.close()
    ws2 = await desk.shopper()
    assert [m["text"] for m in ws2.history["messages"]] == ["你好", "收到:你好"]
    other = await desk.shopper("buyer_005")
    assert other.history["messages"] == []


async def test_notes_are_private_and_transfer(desk):
    ws, _ = await complain(desk)
    cid = await conv_id(desk)
    await desk.post(f"/api/conversations/{cid}/claim")
    assert (await desk.post(f"/api/conversations/{cid}/note", {"text": "买家情绪激动"})).status == 200
    ws2 = await desk.shopper()
    assert "买家情绪激动" not in json.dumps(ws2.history, ensure_ascii=False)
    # to the supervisors: back in the queue, only a supervisor can claim
    assert (await desk.post(f"/api/conversations/{cid}/transfer", {"to": "supervisor"})).status == 200
    [item] = await desk.queue()
    assert item["for_supervisor"] and item["priority"] == "high"
    assert (await desk.post(f"/api/conversations/{cid}/claim")).status == 403
    await desk.login("super1")
    assert (await desk.post(f"/api/conversations/{cid}/claim")).status == 200
    assert (await desk.post(f"/api/conversations/{cid}/transfer", {"to": "agent8"})).status == 200
    moved = (await desk.expect(ws, "message", lambda f: "转接" in f["message"]["text"]))["message"]
    assert "工号 8" in moved["text"]
    await desk.login("agent8")
    assert (await desk.post(f"/api/conversations/{cid}/reply", {"text": "您好,我继续为您处理"})).status == 200


async def test_photo_upload_checks_and_reaches_agent(desk):
    ws = await desk.shopper()
    token = issue_token(SECRET, "buyer_004")
    headers = {"Authorization": f"Bearer {token}", "Origin": desk.origin}

    async def upload(*files):
        form = FormData()
        for body, ctype in files:
            form.add_field("photo", body, filename="p", content_type=ctype)
        return await desk.client.post("/api/shop/upload", data=form, headers=headers)

    r = await upload((b"<html>not a photo</html>", "image/png"))
    assert r.status == 415 and "格式" in (await r.json())["text"]
    r = await upload((PNG + b"\0" * 3_000_001, "image/png"))
    assert r.status == 413 and "太大" in (await r.json())["text"]
    r = await upload(*[(PNG, "image/png")] * 4)
    assert r.status == 413 and "最多" in (await r.json())["text"]
    r = await upload((PNG, "image/png"), (PNG, "image/png"))
    assert r.status == 200
    msg = (await desk.expect(ws, "message", lambda f: f["message"].get("photos")))["message"]
    assert len(msg["photos"]) == 2
    cid = await conv_id(desk)
    [item] = await desk.queue()
    assert item["reason"] == "photos"
    detail = await (await desk.client.get(f"/api/conversations/{cid}")).json()
    url = next(m for m in detail["messages"] if m["data"].get("photos"))["data"]["photos"][0]["url"]
    assert (await desk.client.get(url)).status == 200  # the agent's session reads it


async def test_quick_replies_and_console_socket(desk):
    await desk.login()
    groups = (await (await desk.client.get("/api/quick_replies")).json())["groups"]
    replies = [r for g in groups for r in g["replies"]]
    assert "您好,工号 8 为您服务,请问有什么可以帮到您?" in replies
    assert "我已经将您的问题做了记录,待问题有准确答案后,我会立刻与您联系。" in replies
    console = await desk.client.ws_connect("/ws/console", headers={"Origin": desk.origin})
    ws = await desk.shopper()
    await desk.say(ws, "质量太差我要投诉")
    frame = await desk.expect(console, "queue")
    assert frame["status"] == "queued"


async def test_storefront_lists_the_shops_buyers_and_escapes_what_it_shows(aiohttp_client, make_config, buyers_shop):
    client = await aiohttp_client(create_app(make_config(shop=buyers_shop)))
    page = await (await client.get("/")).text()
    listed = re.findall(r'<option value="([^"]+)"', page)
    assert listed == await buyers_shop.buyer_ids() and len(listed) > 10
    assert any(b.startswith("tb_") for b in listed)  # platform-style accounts too, not only buyer_001..
    # the demo login takes any listed buyer; the page shows who is logged in, escaped
    r = await client.post("/shop/login", data={"buyer_id": listed[-1]}, allow_redirects=False)
    assert r.status == 302
    page = await (await client.get("/")).text()
    assert f"当前买家:{listed[-1]}" in page and f'<option value="{listed[-1]}" selected>' in page


async def test_storefront_without_a_shop_asks_for_the_buyer_id(desk):
    page = await (await desk.client.get("/")).text()
    assert '<input name="buyer_id"' in page and "<option" not in page and "商品目录暂不可用" in page


async def test_storefront_login_issues_signed_token(desk):
    page = await (await desk.client.get("/")).text()
    assert 'name="buyer_id"' in page and "widget.js" not in page
    r = await desk.client.post("/shop/login", data={"buyer_id": "buyer_007"}, allow_redirects=False)
    assert r.status == 302
    page = await (await desk.client.get("/")).text()
    token = page.split('data-token="')[1].split('"')[0]
    assert verify_token(SECRET, token) == "buyer_007"
    assert (await desk.client.post("/shop/login", data={"buyer_id": "<script>"}, allow_redirects=False)).status == 400
    assert (await desk.client.get("/health")).status == 200
    assert (await desk.client.get("/widget.js")).status == 200
    chart = await desk.client.get("/vendor/chartjs/chart.umd.js")
    assert chart.status == 200 and "Chart" in await chart.text()


def test_create_agent_command(tmp_path, monkeypatch, capsys):
    from desk.__main__ import main

    monkeypatch.setenv("XIAOER_DESK_DB_URL", f"sqlite+aiosqlite:///{tmp_path / 'd.db'}")
    monkeypatch.setenv("XIAOER_DESK_SECRET", "s")
    monkeypatch.setenv("XIAOER_DESK_NEW_PASSWORD", "long enough pw")
    assert main(["create-agent", "lily", "--role", "supervisor", "--number", "12"]) == 0
    assert "工号 12" in capsys.readouterr().out
    assert main(["create-agent", "lily"]) == 1
    monkeypatch.setenv("XIAOER_DESK_NEW_PASSWORD", "short")
    assert main(["create-agent", "tom"]) == 1


async def test_periodic_task_runs_the_timers(aiohttp_client, make_config, fake_rasa, clock):
    config = make_config(start_escalation_task=True, escalation=dict(make_config().escalation, check_seconds=0.05))
    client = await aiohttp_client(create_app(config))
    d = Desk(client, fake_rasa, clock)
    await complain(d)
    clock.advance(hours=2, minutes=1)
    await asyncio.sleep(0.5)
    await d.login()
    [item] = await d.queue()
    assert item["overdue"] is True
    detail = await (await client.get(f"/api/conversations/{item['id']}")).json()
    assert "conversation.overdue" in [e["name"] for e in detail["events"]]


async def test_pages_forbid_inline_scripts(desk):
    for path in ("/", "/console"):
        r = await desk.client.get(path)
        assert "default-src 'self'" in r.headers["Content-Security-Policy"], path
        assert r.headers["X-Content-Type-Options"] == "nosniff"


async def test_abuse_handed_off_by_the_bot_is_for_a_supervisor(desk):
    # C5: the bot's handoff says for_supervisor; only a supervisor may claim it
    def replies(text):
        h = handoff("abuse", None, "high", 24, summary=text)
        h["custom"]["handoff"]["for_supervisor"] = True
        return [{"text": "您好,您的心情我们也非常理解……我这就请主管一起为您处理。"}, h]

    desk.fake.replies = replies
    await complain(desk, text="垃圾店,骗子")
    await desk.login()
    [item] = await desk.queue()
    assert item["for_supervisor"] and item["priority"] == "high"
    cid = item["id"] if "id" in item else await conv_id(desk)
    assert (await desk.post(f"/api/conversations/{cid}/claim")).status == 403
    await desk.login("super1")
    assert (await desk.post(f"/api/conversations/{cid}/claim")).status == 200
