"""The follow-ups inside the desk: the 回访 arrives in the shopper's widget (or
waits for the next visit), Rasa gets the external event so the answer continues
in the bot, promises are listed in the console until an agent keeps them."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest
from aiohttp import web
from followup_helpers import T0, new_order

from desk import create_app, load_config
from desk.followups import FOLLOWUP_CONFIG, FOLLOWUPS
from desk.tokens import issue_token
from shop.status import OrderStatus

SECRET = "test-secret-not-for-production"
PASSWORD = "correct horse battery"


class FakeRasa:
    def __init__(self) -> None:
        self.messages, self.triggers = [], []

    def app(self) -> web.Application:
        async def webhook(request):
            body = await request.json()
            self.messages.append(body)
            return web.json_response([{"text": "谢谢您的认可!"}])

        async def trigger(request):
            self.triggers.append({"sender": request.match_info["sid"], **(await request.json())})
            return web.json_response({"tracker": {}, "messages": []})

        app = web.Application()
        app.router.add_post("/webhooks/rest/webhook", webhook)
        app.router.add_post("/conversations/{sid}/trigger_intent", trigger)
        return app


@pytest.fixture
async def stack(aiohttp_server, aiohttp_client, tmp_path, shop, clock, config):
    rasa = FakeRasa()
    server = await aiohttp_server(rasa.app())
    dconf = load_config(
        secret=SECRET,
        db_url=f"sqlite+aiosqlite:///{tmp_path / 'desk.db'}",
        rasa_url=str(server.make_url("")).rstrip("/"),
        shop=shop,
        shop_enabled=False,
        demo_agent_password=PASSWORD,
        upload_dir=tmp_path / "uploads",
        clock=clock,
        argon2={"time_cost": 1, "memory_cost": 1024, "parallelism": 1},
        start_escalation_task=False,
        warm_guard=False,
    )
    app = create_app(dconf)
    app[FOLLOWUP_CONFIG] = config.with_(db_url=f"sqlite+aiosqlite:///{tmp_path / 'fu.db'}", delivery_check_minutes=1)
    client = await aiohttp_client(app)
    client.rasa = rasa
    client.origin = str(client.make_url("")).rstrip("/")
    return client


async def shopper(client, buyer):
    # the shopper's socket authenticates with its first frame (tokens stay out of URLs and logs)
    ws = await client.ws_connect("/ws/shop", headers={"Origin": client.origin})
    await ws.send_json({"type": "auth", "token": issue_token(SECRET, buyer)})
    ws.history = await frame(ws, "history")
    return ws


async def frame(ws, kind, timeout=10.0):
    async def loop():
        while True:
            f = json.loads((await ws.receive()).data)
            if f.get("type") == kind:
                return f

    return await asyncio.wait_for(loop(), timeout)


@pytest.mark.asyncio
async def test_the_delivery_check_reaches_the_widget_and_the_answer_goes_to_the_bot(stack, shop, clock):
    await new_order(shop, clock, "DD20261117011", status=OrderStatus.DELIVERED, at=T0)
    scheduler = stack.app[FOLLOWUPS]
    ws = await shopper(stack, "buyer_001")
    await scheduler.scan()
    clock.advance(minutes=1)
    assert (await scheduler.tick())["sent"] == 1
    msg = (await frame(ws, "message"))["message"]
    assert msg["sender"] == "bot"
    assert msg["text"].startswith("您好亲,我是星耀数码旗舰店的客服小星~您的订单DD20261117011")
    assert msg["text"].endswith("想了解一下您收到货了吗?用着还满意吗?")
    assert msg["buttons"][0] == {"title": "收到了,很满意", "payload": "收到了,很满意"}
    [trig] = stack.rasa.triggers
    assert trig["name"] == "EXTERNAL_followup_delivery_check" and trig["entities"] == {"order_id": "DD20261117011"}
    # the shopper taps the first button: the bot gets it in the same conversation
    await ws.send_json({"type": "message", "text": msg["buttons"][0]["payload"]})
    reply = await frame(ws, "message")
    while reply["message"]["sender"] != "bot":
        reply = await frame(ws, "message")
    assert stack.rasa.messages[-1]["message"] == "收到了,很满意"
    assert stack.rasa.messages[-1]["sender"] == trig["sender"]
    await ws.close()
    # stored like any other message: the next visit shows it in the history
    ws2 = await shopper(stack, "buyer_001")
    assert any(m["text"] == msg["text"] for m in ws2.history["messages"])
    await ws2.close()


@pytest.mark.asyncio
async def test_offline_shopper_gets_the_follow_up_on_the_next_visit(stack, shop, clock):
    await new_order(shop, clock, "DD20261117012", status=OrderStatus.DELIVERED, at=T0, buyer="buyer_002")
    scheduler = stack.app[FOLLOWUPS]
    await scheduler.scan()
    clock.advance(minutes=5)
    assert (await scheduler.tick())["waiting"] == 1
    ws = await shopper(stack, "buyer_002")
    assert ws.history["messages"] == []
    assert (await scheduler.tick())["sent"] == 1
    msg = (await frame(ws, "message"))["message"]
    assert "DD20261117012" in msg["text"]
    await ws.close()


@pytest.mark.asyncio
async def test_promises_in_the_console_until_kept_and_the_answer_reaches_the_shopper(stack, shop, clock):
    await shop.promise_follow_up(
        buyer_id="buyer_001", topic="invoice_reissue: 发票没收到", due_at=T0 + timedelta(hours=3)
    )
    scheduler = stack.app[FOLLOWUPS]
    await scheduler.scan()
    r = await stack.get("/api/followups/promises")
    assert r.status == 401  # agents only
    r = await stack.post("/api/login", json={"name": "agent8", "password": PASSWORD}, headers={"Origin": stack.origin})
    assert r.status == 200
    [p] = (await (await stack.get("/api/followups/promises")).json())["promises"]
    assert p["topic"] == "invoice_reissue: 发票没收到" and p["state"] == "open" and p["overdue"] is False
    ws = await shopper(stack, "buyer_001")
    r = await stack.post(
        f"/api/followups/promises/{p['id']}/kept",
        json={"text": "您好,发票已经重新开好发到您邮箱了~"},
        headers={"Origin": stack.origin},
    )
    assert r.status == 200
    assert (await (await stack.get("/api/followups/promises")).json())["promises"] == []
    await scheduler.tick()
    msg = (await frame(ws, "message"))["message"]
    assert msg["sender"] == "agent" and msg["text"] == "您好,发票已经重新开好发到您邮箱了~"
    r = await stack.post(f"/api/followups/promises/{p['id']}/kept", json={}, headers={"Origin": stack.origin})
    assert r.status == 409
    await ws.close()


@pytest.mark.asyncio
async def test_shopper_who_says_stop_gets_nothing_more(stack, shop, clock):
    await new_order(shop, clock, "DD20261117013", status=OrderStatus.DELIVERED, at=T0)
    scheduler = stack.app[FOLLOWUPS]
    ws = await shopper(stack, "buyer_001")
    await ws.send_json({"type": "message", "text": "以后别再发了"})
    await frame(ws, "message")
    await scheduler.scan()
    clock.advance(minutes=2)
    counts = await scheduler.tick()
    assert counts["opted_out"] == 1 and counts["sent"] == 0
    assert await scheduler.opted_out("buyer_001")
    await ws.close()


@pytest.mark.asyncio
async def test_console_panel_and_jobs_route(stack, shop, clock):
    r = await stack.get("/followups.js")
    assert r.status == 200 and "承诺跟进" in await r.text()
    await new_order(shop, clock, "DD20261117014", status=OrderStatus.DELIVERED, at=T0)
    await stack.app[FOLLOWUPS].scan()
    assert (await stack.get("/api/followups/jobs")).status == 401
    await stack.post("/api/login", json={"name": "agent8", "password": PASSWORD}, headers={"Origin": stack.origin})
    [job] = (await (await stack.get("/api/followups/jobs", params={"buyer_id": "buyer_001"})).json())["jobs"]
    assert job["kind"] == "delivery_check" and job["state"] == "pending" and job["order_id"] == "DD20261117014"
    r = await stack.post("/api/followups/promises/999/kept", json={"text": "x"}, headers={"Origin": "http://evil"})
    assert r.status == 403  # the desk's CSRF origin check applies
