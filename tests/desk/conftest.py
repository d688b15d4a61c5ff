"""A fake Rasa the tests script, a desk on a temporary database, a movable clock."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Dict, List

import pytest
from aiohttp import web

from desk import create_app, load_config
from desk.tokens import issue_token

SECRET = "test-secret-not-for-production"
CHANNEL_SECRET = "test-channel-secret"
PASSWORD = "correct horse battery"
ONLINE = datetime(2026, 11, 20, 6, 0, tzinfo=timezone.utc)  # 14:00 in Shanghai: agents on duty
OFFLINE = datetime(2026, 11, 20, 16, 0, tzinfo=timezone.utc)  # 00:00 in Shanghai


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw) -> None:
        self.now += timedelta(**kw)


def handoff(reason="complaint", category="商品质量", priority="normal", hours=2, online=True, summary="质量太差了"):
    return {
        "custom": {
            "handoff": {
                "reason": reason,
                "category": category,
                "priority": priority,
                "summary": summary,
                "deadline_hours": hours,
                "agents_online": online,
            }
        }
    }


class FakeRasa:
    """Scripted replies per shopper text; records everything the desk sent."""

    def __init__(self) -> None:
        self.received: List[Dict[str, Any]] = []
        self.tracker_posts: List[Dict[str, Any]] = []
        self.triggers: List[Dict[str, Any]] = []  # trigger_intent (external events)
        self.down = False
        self.delay = 0.0
        self.replies: Callable[[str], List[Dict[str, Any]]] = self.default

    @staticmethod
    def default(text: str) -> List[Dict[str, Any]]:
        if "投诉" in text or "质量" in text:
            return [{"text": "非常抱歉给您添麻烦了,我们会在2小时内给您答复。"}, handoff()]
        if "人工" in text:
            return [{"text": "好的,马上为您转接人工客服。"}, handoff("request_human", None, "low", 2)]
        return [{"text": f"收到:{text}", "buttons": [{"title": "查物流", "payload": "我的订单到哪了"}]}]

    def app(self) -> web.Application:
        async def webhook(request):
            if self.down:
                return web.Response(status=500)
            if request.headers.get("X-Xiaoer-Channel-Secret") != CHANNEL_SECRET:
                return web.json_response({"error": "unauthorized"}, status=401)
            body = await request.json()
            self.received.append(body)
            await asyncio.sleep(self.delay)
            return web.json_response(self.replies(body["message"]))

        async def events(request):
            self.tracker_posts.append(
                {
                    "sender": request.match_info["sid"],
                    "token": request.query.get("token"),
                    "events": await request.json(),
                }
            )
            return web.json_response({})

        async def trigger(request):
            self.triggers.append(
                {"sender": request.match_info["sid"], "token": request.query.get("token"), **await request.json()}
            )
            return web.json_response({"tracker": {}, "messages": []})

        async def tracker(request):
            sid = request.match_info["sid"]
            evs = [
                {
                    "event": "user",
                    "text": b["message"],
                    "parse_data": {
                        "intent": {"name": "complain", "confidence": 0.93},
                        "entities": [{"entity": "product", "value": "台灯"}],
                    },
                }
                for b in self.received
                if b["sender"] == sid
            ]
            return web.json_response({"sender_id": sid, "events": evs})

        app = web.Application()
        app.router.add_post("/webhooks/rest/webhook", webhook)
        app.router.add_post("/conversations/{sid}/tracker/events", events)
        app.router.add_get("/conversations/{sid}/tracker", tracker)
        app.router.add_post("/conversations/{sid}/trigger_intent", trigger)
        return app


@pytest.fixture
async def fake_rasa(aiohttp_server):
    fake = FakeRasa()
    fake.server = await aiohttp_server(fake.app())
    fake.url = str(fake.server.make_url("")).rstrip("/")
    return fake


@pytest.fixture
def clock():
    return Clock(ONLINE)


@pytest.fixture
def make_config(tmp_path, fake_rasa, clock):
    def make(**over):
        kw = dict(
            secret=SECRET,
            db_url=f"sqlite+aiosqlite:///{tmp_path / 'desk.db'}",
            rasa_url=fake_rasa.url,
            rasa_token="rasa-token",
            channel_secret=CHANNEL_SECRET,
            shop_enabled=False,
            demo_agent_password=PASSWORD,
            upload_dir=tmp_path / "uploads",
            clock=clock,
            argon2={"time_cost": 1, "memory_cost": 1024, "parallelism": 1},
            start_escalation_task=False,
        )
        kw.update(over)
        return load_config(**kw)

    return make


class Desk:
    """A running desk plus helpers that act like a shopper and an agent."""

    def __init__(self, client, fake, clock) -> None:
        self.client, self.fake, self.clock = client, fake, clock
        self.origin = str(client.make_url("")).rstrip("/")

    async def shopper(self, buyer_id="buyer_004", token=None, origin=None):
        ws = await self.client.ws_connect("/ws/shop", headers={"Origin": origin or self.origin})
        await ws.send_json({"type": "auth", "token": token or issue_token(SECRET, buyer_id)})
        ws.history = await self.expect(ws, "history")
        return ws

    @staticmethod
    async def expect(ws, kind, pred=None, timeout=5.0):
        """The next frame of `kind` (and matching `pred`), skipping others."""

        async def loop():
            while True:
                frame = json.loads((await ws.receive()).data)
                if frame.get("type") == kind and (pred is None or pred(frame)):
                    return frame

        return await asyncio.wait_for(loop(), timeout)

    async def say(self, ws, text):
        await ws.send_json({"type": "message", "text": text})

    async def login(self, name="agent8", password=PASSWORD):
        r = await self.client.post(
            "/api/login", json={"name": name, "password": password}, headers={"Origin": self.origin}
        )
        return r

    async def post(self, path, body=None):
        return await self.client.post(path, json=body or {}, headers={"Origin": self.origin})

    async def queue(self):
        r = await self.client.get("/api/queue")
        assert r.status == 200
        return (await r.json())["queue"]


@pytest.fixture
async def desk(aiohttp_client, make_config, fake_rasa, clock):
    client = await aiohttp_client(create_app(make_config()))
    return Desk(client, fake_rasa, clock)


@pytest.fixture(autouse=True)
def _own_secrets(tmp_path, monkeypatch):
    """Generated secrets go to a temporary folder, never the checkout's var/secrets."""
    monkeypatch.setenv("XIAOER_SECRETS_DIR", str(tmp_path / "secrets"))


@pytest.fixture
async def buyers_shop():
    """A shop backend holding only the demo's buyer accounts (no catalogue, no orders):
    the storefront's demo login lists the shop's buyers."""
    import random

    from shop.demo import make_buyers
    from shop.sql import SqlShop

    shop = SqlShop("sqlite+aiosqlite://")
    await shop.start()
    for buyer in make_buyers(random.Random(42), ONLINE):
        await shop.put_buyer(buyer)
    try:
        yield shop
    finally:
        await shop.close()
