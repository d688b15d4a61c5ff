"""Issue 12: a desk crash loses nothing (desk/recovery.py, the widget's outbox).

- A real desk process is killed (SIGKILL) while Rasa holds a shopper's turn and a
  second message waits in the desk's buffers; the desk is started again and the
  shopper's client reconnects and sends again what the history lacks, as the widget's
  outbox does: both messages stored once and answered once, checked in the desk's
  database, and Rasa ran each turn once (when it had finished the dead desk's turn,
  its replies come from the tracker).
- In process: a message sent again is stored once and acknowledged; a refused one
  says which; a stored, unanswered message is finished at the desk's start and on
  reconnect, but not while the desk answering it is alive.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Dict, List

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import select

from desk import create_app, db, recovery
from desk.tokens import issue_token
from tests.desk.conftest import CHANNEL_SECRET, SECRET, Desk

ROOT = Path(__file__).resolve().parents[2]


class HeldRasa:
    """A Rasa on a tracker shared like PostgreSQL's, whose turns the test can hold.
    `done_before_drop`: a held turn is stored in the tracker at once, its answer held
    (Rasa had done the turn when the desk died); else it is done on release, unless the
    desk hung up meanwhile (Sanic cancels a turn whose client is gone). `runs` counts
    the stored turns by the desk's turn id."""

    def __init__(self, done_before_drop: bool = True, channel_secret: str = CHANNEL_SECRET) -> None:
        self.done_before_drop, self.channel_secret = done_before_drop, channel_secret
        self.tracker: Dict[str, List[dict]] = {}
        self.runs: Dict[str, int] = {}
        self.hold = False
        self.arrived = asyncio.Event()
        self.release = asyncio.Event()
        self.handled = asyncio.Event()
        self.posts = 0

    def _run(self, body: dict) -> None:
        turn = body["metadata"]["desk_turn"]
        self.runs[turn] = self.runs.get(turn, 0) + 1
        events = self.tracker.setdefault(body["sender"], [])
        events.append({"event": "user", "text": body["message"], "metadata": body["metadata"]})
        events.append({"event": "bot", "text": f"收到:{body['message']}", "data": {}})

    def app(self) -> web.Application:
        async def webhook(request):
            if request.headers.get("X-Xiaoer-Channel-Secret") != self.channel_secret:
                return web.json_response({"error": "unauthorized"}, status=401)
            body = await request.json()
            self.posts += 1
            if self.hold:
                try:
                    if self.done_before_drop:
                        self._run(body)
                    self.arrived.set()
                    while not self.release.is_set():  # (a server may also cancel us when the desk hangs up)
                        if request.transport is None or request.transport.is_closing():
                            return web.Response()  # the desk hung up: Sanic cancels the turn
                        await asyncio.sleep(0.05)
                    if not self.done_before_drop:
                        self._run(body)
                finally:
                    self.handled.set()
            else:
                self._run(body)
            return web.json_response([{"recipient_id": body["sender"], "text": f"收到:{body['message']}"}])

        async def tracker(request):
            return web.json_response({"events": self.tracker.get(request.match_info["sid"], [])})

        app = web.Application()
        app.router.add_post("/webhooks/rest/webhook", webhook)
        app.router.add_get("/conversations/{sid}/tracker", tracker)
        return app


def frame(text: str, client_id: str) -> dict:
    return {"type": "message", "text": text, "client_id": client_id}


async def frames_until(ws, pred, seconds=20.0) -> List[dict]:
    """Every frame until one matches `pred` (included)."""
    out: List[dict] = []

    async def loop():
        while True:
            msg = await ws.receive()
            if msg.type != aiohttp.WSMsgType.TEXT:
                raise AssertionError(f"socket closed after {out}")
            out.append(json.loads(msg.data))
            if pred(out[-1]):
                return out

    return await asyncio.wait_for(loop(), seconds)


def bot_said(text):
    return lambda f: f.get("type") == "message" and f["message"]["sender"] == "bot" and f["message"]["text"] == text


def rows_of(db_file: Path):
    with sqlite3.connect(db_file) as conn:
        return conn.execute("SELECT id, sender, text, client_id FROM desk_messages ORDER BY id").fetchall()


# ---- a real desk process, killed ------------------------------------------------------------------
class DeskProcess:
    def __init__(self, tmp: Path, rasa_url: str) -> None:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.tmp = tmp
        self.db = tmp / "desk.db"
        self.env = dict(
            os.environ,
            PYTHONPATH=str(ROOT),
            XIAOER_DESK_DB_URL=f"sqlite+aiosqlite:///{self.db}",
            XIAOER_SHOP_DB_URL=f"sqlite+aiosqlite:///{tmp / 'shop.db'}",
            XIAOER_TRAINER_DB_URL=f"sqlite:///{tmp / 'trainer.db'}",
            XIAOER_RASA_URL=rasa_url,
            XIAOER_DESK_SECRET=SECRET,
            XIAOER_CHANNEL_SECRET=CHANNEL_SECRET,
            XIAOER_RASA_API_SECRET="rasa-token",
            XIAOER_DESK_AGENT_PASSWORD="a test password",
            XIAOER_SECRETS_DIR=str(tmp / "secrets"),
        )
        self.proc = None
        self.log = open(tmp / "desk.log", "ab")

    async def start(self) -> float:
        t0 = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "desk", "run", "--port", str(self.port)],
            env=self.env,
            cwd=ROOT,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        async with aiohttp.ClientSession() as s:
            while time.monotonic() - t0 < 90:
                assert self.proc.poll() is None, (self.tmp / "desk.log").read_text()[-3000:]
                try:
                    async with s.get(f"http://127.0.0.1:{self.port}/health", timeout=1) as r:
                        if r.status == 200:
                            return time.monotonic() - t0
                except (aiohttp.ClientError, asyncio.TimeoutError):
                    pass
                await asyncio.sleep(0.1)
        raise AssertionError("the desk did not start within 90 s")

    def kill(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()

    async def shopper(self, session):
        url = f"http://127.0.0.1:{self.port}"
        ws = await session.ws_connect(url + "/ws/shop", headers={"Origin": url})
        await ws.send_json({"type": "auth", "token": issue_token(SECRET, "buyer_004")})
        ws.history = (await frames_until(ws, lambda f: f["type"] == "history"))[-1]
        return ws


@pytest.mark.parametrize("done_before_drop", [True, False], ids=["rasa-had-done-the-turn", "rasa-dropped-it"])
async def test_a_desk_killed_mid_turn_loses_nothing(aiohttp_server, tmp_path, done_before_drop):
    rasa = HeldRasa(done_before_drop)
    server = await aiohttp_server(rasa.app())
    desk = DeskProcess(tmp_path, str(server.make_url("")).rstrip("/"))
    try:
        await desk.start()
        c1, c2 = uuid.uuid4().hex, uuid.uuid4().hex
        async with aiohttp.ClientSession() as session:
            ws = await desk.shopper(session)
            rasa.hold = True
            await ws.send_json(frame("什么时候发货", c1))
            echo = await frames_until(ws, lambda f: f["type"] == "message" and f["message"].get("client_id") == c1)
            assert echo[-1]["message"]["sender"] == "shopper"  # stored: the widget drops it from its outbox
            await asyncio.wait_for(rasa.arrived.wait(), 10)
            await ws.send_json(frame("能开发票吗", c2))  # behind the held turn, in the desk's buffers
            await asyncio.sleep(0.3)
            desk.kill()
            await asyncio.wait_for(rasa.handled.wait(), 10)  # Rasa saw the desk hang up
            rasa.hold = False
            await ws.close()

            back = await desk.start()
            ws = await desk.shopper(session)
            history = ws.history["messages"]
            assert [m.get("client_id") for m in history if m["sender"] == "shopper"] == [c1]
            # the widget's outbox: what the history lacks goes again; c1 again too (a lost ack),
            # which must be acknowledged and not stored twice
            await ws.send_json(frame("什么时候发货", c1))
            await ws.send_json(frame("能开发票吗", c2))
            seen = [f for f in history if f["sender"] == "bot"]
            got = await frames_until(ws, bot_said("收到:能开发票吗"))
            await asyncio.sleep(0.5)  # nothing doubled arrives late
            await ws.close()
        acks = [f for f in got if f["type"] == "ack"]
        assert [a["client_id"] for a in acks] == [c1]
        bots = [m["text"] for m in seen] + [
            f["message"]["text"] for f in got if f.get("message", {}).get("sender") == "bot"
        ]
        assert sorted(bots) == ["收到:什么时候发货", "收到:能开发票吗"]
    finally:
        desk.stop()
    rows = rows_of(desk.db)
    said = [(r[1], r[2]) for r in rows if r[1] in ("shopper", "bot")]
    assert said == [
        ("shopper", "什么时候发货"),
        ("bot", "收到:什么时候发货"),
        ("shopper", "能开发票吗"),
        ("bot", "收到:能开发票吗"),
    ], rows
    assert [r[3] for r in rows if r[1] == "shopper"] == [c1, c2]
    # each turn ran once in Rasa; the dead desk's was not sent again when Rasa had finished it
    shopper_ids = [str(r[0]) for r in rows if r[1] == "shopper"]
    assert rasa.runs == {shopper_ids[0]: 1, shopper_ids[1]: 1}
    assert rasa.posts == (2 if done_before_drop else 3)
    print(f"desk back in {back:.1f} s after kill -9")


# ---- in process ----------------------------------------------------------------------------------
async def test_a_message_sent_again_is_stored_and_answered_once(desk: Desk, tmp_path):
    ws = await desk.shopper()
    cid = uuid.uuid4().hex
    await ws.send_json(frame("在吗", cid))
    got = await frames_until(ws, bot_said("收到:在吗"), 5)
    mine = [f["message"] for f in got if f["type"] == "message" and f["message"]["sender"] == "shopper"]
    assert mine[0]["client_id"] == cid
    other = await desk.shopper()  # a second tab, or the socket after a reconnect
    assert [m.get("client_id") for m in other.history["messages"] if m["sender"] == "shopper"] == [cid]
    await other.send_json(frame("在吗", cid))
    ack = await desk.expect(other, "ack")
    assert ack == {"type": "ack", "client_id": cid, "id": mine[0]["id"]}
    assert len(desk.fake.received) == 1
    assert [r[2] for r in rows_of(tmp_path / "desk.db") if r[1] == "shopper"] == ["在吗"]


async def test_a_refused_message_says_which(desk: Desk):
    ws = await desk.shopper()
    cid = uuid.uuid4().hex
    await ws.send_json(frame("长" * 1001, cid))
    notice = await desk.expect(ws, "notice")
    assert notice["client_id"] == cid and "1000" in notice["text"]


async def _store_unanswered(make_config, text="什么时候发货", node="a-desk-that-died") -> tuple:
    """A desk that stored the shopper's message and died before it answered."""
    config = make_config()
    engine = await db.open_engine(config.db_url)
    now = config.clock()
    async with engine.begin() as conn:
        await conn.execute(
            db.conversations.insert().values(
                id="conv-dead",
                buyer_id="buyer_004",
                status="bot",
                created_at=now,
                updated_at=now,
                for_supervisor=False,
                overdue=False,
                awaiting_rating=False,
            )
        )
        r = await conn.execute(
            db.messages.insert().values(
                conversation_id="conv-dead", sender="shopper", text=text, data={}, created_at=now, turn_node=node
            )
        )
        mid = r.inserted_primary_key[0]
    await engine.dispose()
    return config, mid


async def _said(config, conv="conv-dead", seconds=5.0):
    engine = await db.open_engine(config.db_url)
    try:
        end = time.monotonic() + seconds
        while True:
            async with engine.connect() as conn:
                rows = (
                    await conn.execute(
                        select(db.messages.c.sender, db.messages.c.text)
                        .where(db.messages.c.conversation_id == conv)
                        .order_by(db.messages.c.id)
                    )
                ).all()
            if len(rows) > 1 or time.monotonic() > end:
                return [tuple(r) for r in rows]
            await asyncio.sleep(0.1)
    finally:
        await engine.dispose()


async def test_the_sweep_at_start_answers_what_a_dead_desk_left(aiohttp_client, make_config, fake_rasa):
    config, mid = await _store_unanswered(make_config)
    await aiohttp_client(create_app(config))  # nobody connects: the answer waits for their next visit
    assert await _said(config) == [("shopper", "什么时候发货"), ("bot", "收到:什么时候发货")]
    assert [b["metadata"]["desk_turn"] for b in fake_rasa.received] == [str(mid)]


async def test_on_reconnect_replies_rasa_already_gave_come_from_its_tracker(
    aiohttp_client, make_config, aiohttp_server
):
    rasa = HeldRasa()
    server = await aiohttp_server(rasa.app())
    config, mid = await _store_unanswered(make_config)
    config.rasa_url = str(server.make_url("")).rstrip("/")
    # the dead desk's turn reached Rasa, which answered into the tracker
    rasa.tracker["conv-dead"] = [
        {"event": "user", "text": "什么时候发货", "metadata": {"desk_turn": str(mid)}},
        {"event": "bot", "text": "亲,48小时内发货哦", "data": {}},
    ]
    d = Desk(await aiohttp_client(create_app(config)), None, config.clock)
    ws = await d.shopper()
    if not any(m["sender"] == "bot" for m in ws.history["messages"]):  # else the start-up sweep was first
        await d.expect(ws, "message", lambda f: f["message"]["sender"] == "bot")
    assert await _said(config) == [("shopper", "什么时候发货"), ("bot", "亲,48小时内发货哦")]
    assert rasa.posts == 0  # not run twice


async def test_a_turn_of_a_live_desk_is_left_to_it(aiohttp_client, make_config, fake_rasa, monkeypatch):
    config, _ = await _store_unanswered(make_config, node="another-live-desk")

    async def alive(self, node):
        return node == "another-live-desk" or node == self.node

    monkeypatch.setattr(recovery.Liveness, "alive", alive)
    d = Desk(await aiohttp_client(create_app(config)), fake_rasa, config.clock)
    ws = await d.shopper()
    await asyncio.sleep(1.0)  # the start-up sweep has run
    assert fake_rasa.received == [] and ws.history["messages"][-1]["sender"] == "shopper"
    assert await _said(config, seconds=0) == [("shopper", "什么时候发货")]


async def test_a_message_the_database_could_not_take_is_sent_again(desk: Desk, monkeypatch):
    """The database away for a moment (a PostgreSQL restart): the desk asks the widget to send the
    message again instead of leaving it unstored, and the resend is stored and answered once."""
    from sqlalchemy.exc import OperationalError

    from desk.keys import DESK

    service = desk.client.app[DESK]
    real = service.shopper_message
    failures = [OperationalError("INSERT", {}, Exception("server closed the connection"))]

    async def flaky(*args, **kwargs):
        if failures:
            raise failures.pop()
        return await real(*args, **kwargs)

    monkeypatch.setattr(service, "shopper_message", flaky)
    ws = await desk.shopper()
    cid = uuid.uuid4().hex
    await ws.send_json(frame("能开发票吗", cid))
    assert await desk.expect(ws, "retry") == {"type": "retry", "client_id": cid}
    assert desk.fake.received == []  # nothing stored, nothing asked of Rasa
    await ws.send_json(frame("能开发票吗", cid))  # what the widget does 2 s later
    got = await frames_until(ws, bot_said("收到:能开发票吗"), 5)
    mine = [f["message"] for f in got if f["type"] == "message" and f["message"]["sender"] == "shopper"]
    assert [m["client_id"] for m in mine] == [cid]
    assert len(desk.fake.received) == 1


async def test_a_stored_message_whose_answer_failed_is_answered_when_sent_again(desk: Desk, monkeypatch):
    """Stored, then the answer failed (the database went away under it): the widget's resend on
    the same socket gets the answer, once."""
    from desk.keys import DESK

    service = desk.client.app[DESK]
    real = service.answer_shopper
    failures = [ConnectionError("the database went away")]

    async def flaky(*args, **kwargs):
        if failures:
            raise failures.pop()
        return await real(*args, **kwargs)

    monkeypatch.setattr(service, "answer_shopper", flaky)
    ws = await desk.shopper()
    cid = uuid.uuid4().hex
    await ws.send_json(frame("什么时候发货", cid))
    assert await desk.expect(ws, "retry") == {"type": "retry", "client_id": cid}
    await ws.send_json(frame("什么时候发货", cid))
    got = await frames_until(ws, bot_said("收到:什么时候发货"), 5)
    assert [f["client_id"] for f in got if f["type"] == "ack"] == [cid]
    assert len(desk.fake.received) == 1
    await ws.send_json(frame("什么时候发货", cid))  # once more: acked, not answered again
    await desk.expect(ws, "ack")
    await asyncio.sleep(0.3)
    assert len(desk.fake.received) == 1
