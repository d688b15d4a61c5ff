"""The shopper message's hot path after issue 11's CPU cuts (deskcpu2): the database thread
with its kept connection, the reads of a socket opening on it, the hub's one-socket send.
What a shopper sees must not change: every message stored, relayed to every widget they
have open, in order, and a reload shows what the rest of the desk just wrote."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import pytest

from desk import db
from desk.keys import DESK
from tests.desk.test_db_run import database  # noqa: F401  (the fixture)

NOW = datetime(2026, 12, 2, 6, 0, tzinfo=timezone.utc)


async def _frames_until_bot(desk, ws):
    """Every frame up to and including the bot's reply, as (type, sender or status)."""
    out = []
    while True:
        raw = await asyncio.wait_for(ws.receive_json(), 5)
        out.append((raw["type"], (raw.get("message") or {}).get("sender", raw.get("on"))))
        if raw["type"] == "message" and raw["message"]["sender"] == "bot":
            return out, raw["message"]


async def test_every_open_widget_gets_every_frame_in_order_and_a_reload_shows_them(desk):
    first = await desk.shopper("buyer_007")
    await desk.say(first, "发什么快递")
    seen, reply = await _frames_until_bot(desk, first)
    assert seen == [("message", "shopper"), ("typing", True), ("typing", False), ("message", "bot")]
    assert reply["text"] == "收到:发什么快递"

    second = await desk.shopper("buyer_007")  # the same buyer on a second tab: the history so far
    assert [(m["sender"], m["text"]) for m in second.history["messages"]] == [
        ("shopper", "发什么快递"),
        ("bot", "收到:发什么快递"),
    ]
    await desk.say(second, "包邮吗")
    for ws in (first, second):  # both tabs, the same frames in the same order
        seen, reply = await _frames_until_bot(desk, ws)
        assert seen == [("message", "shopper"), ("typing", True), ("typing", False), ("message", "bot")]
        assert reply["text"] == "收到:包邮吗"

    await second.close()
    await asyncio.sleep(0.05)
    await desk.say(first, "几天能到")  # one tab left: still everything
    seen, reply = await _frames_until_bot(desk, first)
    assert seen == [("message", "shopper"), ("typing", True), ("typing", False), ("message", "bot")]
    third = await desk.shopper("buyer_007")
    assert [m["text"] for m in third.history["messages"]][-2:] == ["几天能到", "收到:几天能到"]


async def test_what_the_desk_writes_elsewhere_is_read_at_once_on_the_kept_connection(desk):
    ws = await desk.shopper("buyer_008")
    d = desk.client.server.app[DESK]
    conv_id = ws.history["conversation_id"]
    for i in range(5):  # the async engine writes, the database thread's kept connection reads
        await d._set(conv_id, contact=f"1380000000{i}")
        assert (await d.conversation(conv_id))["contact"] == f"1380000000{i}"
        await d.record_event(conv_id, "messages.read", "agent8", up_to=100 + i)
        assert (await desk.shopper("buyer_008")).history["read_up_to"] == 100 + i


@pytest.mark.parametrize("database", ["file"], indirect=True)  # an in-memory one is gone when disposed
async def test_a_disposed_database_is_usable_again(database):  # noqa: F811  (test_db_run's conversation c1)
    d = database

    def status(conn):
        return conn.execute(db.SELECT_CONVERSATION, {"conversation_id": "c1"}).first().status

    assert await d.run(status, write=False) == "bot"
    await d.dispose()
    assert await d.run(status) == "bot"


async def test_a_crowd_of_new_buyers_gets_one_conversation_each_in_one_transaction(desk, monkeypatch):
    """A promotion's crowd opens its first sockets at once (several tabs each): every buyer gets
    one conversation, started once, and every tab shows it. Created in one `Database.run`
    transaction with prebuilt statements, not through the async engine's `begin()`."""
    d = desk.client.server.app[DESK]
    begun = []
    real_begin = type(d.engine).begin

    def counting_begin(self):
        begun.append(1)
        return real_begin(self)

    monkeypatch.setattr(type(d.engine), "begin", counting_begin)
    buyers = [f"buyer_crowd_{i}" for i in range(6)]
    tabs = await asyncio.gather(*[desk.shopper(b) for b in buyers for _ in range(3)])
    by_buyer = {}
    for i, ws in enumerate(tabs):
        by_buyer.setdefault(buyers[i // 3], set()).add(ws.history["conversation_id"])
        assert ws.history["messages"] == [] and ws.history["status"] == "bot"
    assert all(len(ids) == 1 for ids in by_buyer.values())
    assert len({next(iter(ids)) for ids in by_buyer.values()}) == len(buyers)
    assert begun == []
    for buyer, ids in by_buyer.items():
        conv = await d.conversation(next(iter(ids)))
        assert conv["buyer_id"] == buyer and conv["created_at"] is not None

        def started(conn, cid=conv["id"]):
            return conn.execute(
                db.SELECT_LAST_EVENT_DATA, {"conversation_id": cid, "name": "conversation.started"}
            ).all()

        assert len(await d.engine.run(started, write=False)) == 1
    await tabs[0].close()


def test_new_conversations_take_the_rasa_workers_in_turn():
    """Two workers: new conversations alternate between them (a random id's crc32 split 200
    conversations 78 / 124 in a load run), and an id always maps to the same worker."""
    from desk.rasa import RasaClient

    client = RasaClient(None, "http://127.0.0.1:5005, http://127.0.0.1:5006")
    ids = [client.new_sender() for _ in range(200)]
    own = [client.workers(i)[0] for i in ids]
    assert own.count("http://127.0.0.1:5005") == own.count("http://127.0.0.1:5006") == 100
    assert all(a != b for a, b in zip(own, own[1:], strict=False))  # in turn
    assert [RasaClient(None, client.url + ",http://127.0.0.1:5006").workers(i)[0] for i in ids] == own
    assert len(set(ids)) == 200 and all(len(i) == 32 for i in ids)
    single = RasaClient(None, "http://127.0.0.1:5005")
    assert single.workers(single.new_sender()) == ["http://127.0.0.1:5005"]
