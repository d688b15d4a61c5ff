"""Issue 12: what a shopper sees when a part of the stack breaks under them.

- A Rasa worker dies holding the shopper's turn: the desk fails over to the
  next worker, asks the shared tracker whether the dead one finished the turn,
  and answers exactly once (the turn is neither lost nor run twice).
- The upload disk is full: the shopper reads "上传失败", nothing half-written
  stays behind, and their next text message is answered as usual.
"""

from __future__ import annotations

import asyncio
import errno
from pathlib import Path

import aiohttp
import pytest
from aiohttp import FormData, web

from desk import create_app
from desk.rasa import RasaClient, RasaUnavailable
from desk.tokens import issue_token
from tests.desk.conftest import CHANNEL_SECRET, SECRET, Desk

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


class Worker:
    """A Rasa worker on a tracker shared with the others (as PostgreSQL is shared).
    `die` = "before": killed before it ran the turn; "after": killed once the turn was
    stored, before it answered; None: answers."""

    def __init__(self, tracker: dict, die=None) -> None:
        self.tracker, self.die, self.turns = tracker, die, 0

    def app(self) -> web.Application:
        async def webhook(request):
            body = await request.json()
            if self.die == "before":
                request.transport.abort()  # the connection drops: kill -9 mid-turn
                return web.Response()
            self.turns += 1
            replies = [
                {
                    "recipient_id": body["sender"],
                    "text": f"收到:{body['message']}",
                    "buttons": [{"title": "查物流", "payload": "我的订单到哪了"}],
                }
            ]
            events = self.tracker.setdefault(body["sender"], [])
            events.append({"event": "user", "text": body["message"], "metadata": body["metadata"]})
            events += [{"event": "bot", "text": r["text"], "data": {"buttons": r["buttons"]}} for r in replies]
            if self.die == "after":
                request.transport.abort()
                return web.Response()
            return web.json_response(replies)

        async def tracker(request):
            return web.json_response({"events": self.tracker.get(request.match_info["sid"], [])})

        app = web.Application()
        app.router.add_post("/webhooks/rest/webhook", webhook)
        app.router.add_get("/conversations/{sid}/tracker", tracker)
        return app


async def two_workers(aiohttp_server, die):
    tracker: dict = {}
    first, second = Worker(tracker, die), Worker(tracker)
    servers = [await aiohttp_server(first.app()), await aiohttp_server(second.app())]
    return first, second, tracker, ",".join(str(s.make_url("")).rstrip("/") for s in servers)


async def sender_routed_to_first(client: RasaClient) -> str:
    return next(s for s in (f"conv{i}" for i in range(100)) if client.workers(s)[0] == client.urls[0])


@pytest.mark.parametrize("die", ["before", "after"])
async def test_a_worker_killed_mid_turn_costs_no_message_and_no_double_answer(aiohttp_server, die):
    first, second, tracker, urls = await two_workers(aiohttp_server, die)
    async with aiohttp.ClientSession() as session:
        client = RasaClient(session, urls, channel_secret=CHANNEL_SECRET)
        sender = await sender_routed_to_first(client)
        replies = await client.send(sender, "什么时候发货", "buyer_004")
    assert [r["text"] for r in replies] == ["收到:什么时候发货"]
    assert replies[0]["buttons"] == [{"title": "查物流", "payload": "我的订单到哪了"}]
    # the turn ran once, on the dead worker when it got that far, else on the next one
    assert (first.turns, second.turns) == ((0, 1) if die == "before" else (1, 0))
    assert [e["text"] for e in tracker[sender] if e["event"] == "user"] == ["什么时候发货"]


async def test_a_slow_worker_is_not_bypassed(aiohttp_server):
    """A timeout is no proof the worker is gone: sending the turn elsewhere could answer twice."""
    tracker: dict = {}
    other = Worker(tracker)

    async def hang(request):
        await asyncio.sleep(5)
        return web.json_response([])

    app = web.Application()
    app.router.add_post("/webhooks/rest/webhook", hang)
    servers = [await aiohttp_server(app), await aiohttp_server(other.app())]
    urls = ",".join(str(s.make_url("")).rstrip("/") for s in servers)
    async with aiohttp.ClientSession() as session:
        client = RasaClient(session, urls, timeout=0.5, channel_secret=CHANNEL_SECRET)
        with pytest.raises(RasaUnavailable):
            await client.send(await sender_routed_to_first(client), "在吗", "buyer_004")
    assert other.turns == 0


# ---- the upload disk fills up ---------------------------------------------------------------
async def upload(d: Desk, buyer: str = "buyer_004"):
    form = FormData()
    form.add_field("photo", PNG, filename="p.png", content_type="image/png")
    return await d.client.post(
        "/api/shop/upload",
        data=form,
        headers={"Authorization": f"Bearer {issue_token(SECRET, buyer)}", "Origin": d.origin},
    )


async def text_still_answered(d: Desk) -> None:
    ws = await d.shopper()
    await d.say(ws, "什么时候发货")
    frame = await d.expect(ws, "message", lambda f: f["message"]["sender"] == "bot")
    assert frame["message"]["text"] == "收到:什么时候发货"
    await ws.close()


def stored_files(tmp_path: Path):
    folder = tmp_path / "uploads"
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


async def test_disk_below_the_free_space_floor(aiohttp_client, make_config, fake_rasa, clock, tmp_path):
    config = make_config()
    # the real free space of the test's disk is far below a floor of 10^12 MB: "full"
    config.limits = {**config.limits, "min_free_disk_mb": 10**12}
    d = Desk(await aiohttp_client(create_app(config)), fake_rasa, clock)
    r = await upload(d)
    assert r.status == 413 and "上传失败" in (await r.json())["text"]
    assert stored_files(tmp_path) == []
    await text_still_answered(d)


async def test_disk_full_while_writing(aiohttp_client, make_config, fake_rasa, clock, tmp_path, monkeypatch):
    d = Desk(await aiohttp_client(create_app(make_config())), fake_rasa, clock)
    assert (await upload(d)).status == 200
    real = Path.write_bytes

    def full(self, data):  # the disk filled between the free-space check and the write
        if self.parent.parent == tmp_path / "uploads":
            real(self, data[: len(data) // 2])  # what fitted
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", full)
    r = await upload(d, "buyer_005")
    assert r.status == 413 and "上传失败" in (await r.json())["text"]
    assert len(stored_files(tmp_path)) == 1  # the first photo; no half-written second one
    await text_still_answered(d)
