"""The desk reads and edits trackers through Rasa's HTTP API while the caching tracker
store (endpoints.yml) answers the shopper's turns: every read shows what was said, an
edit the desk posts (pause, resume) is what the next turn sees, and nothing is stored
twice. Real model, real Rasa HTTP API (rasa.server.create_app, served on a spare port).
"""

from __future__ import annotations

import socket

import aiohttp
import pytest
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.events import UserUttered

from tests.test_turn_calls import MODEL, bot, shop  # noqa: F401  (the fixtures: agent + action server)

pytestmark = pytest.mark.skipif(not MODEL.exists(), reason=f"no trained model at {MODEL}: make train")

TOKEN = "desk-test-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_the_desk_reads_and_edits_trackers_the_turns_then_see(bot):  # noqa: F811
    from rasa.server import create_app
    from sanic import Sanic

    agent, _ = bot
    Sanic.test_mode = True  # several apps named "rasa_server" in one test process
    app = create_app(agent=agent, auth_token=TOKEN, cors_origins=None)
    port = free_port()
    server = await app.create_server(host="127.0.0.1", port=port, return_asyncio_server=True)
    await server.startup()
    base = f"http://127.0.0.1:{port}/conversations/api-1"

    async def shopper(text):
        out = CollectingOutputChannel()
        await agent.handle_message(UserMessage(text, out, "api-1", metadata={"buyer_id": "buyer_001"}))
        return [m.get("text") for m in out.messages]

    try:
        async with aiohttp.ClientSession() as http:

            async def desk_reads():
                async with http.get(f"{base}/tracker", params={"token": TOKEN}) as r:
                    assert r.status == 200
                    return [e["text"] for e in (await r.json())["events"] if e["event"] == "user"]

            async def desk_posts(events):
                async with http.post(f"{base}/tracker/events", params={"token": TOKEN}, json=events) as r:
                    assert r.status == 200, await r.text()

            assert await shopper("发什么快递")
            assert await shopper("包邮吗")
            assert await desk_reads() == ["发什么快递", "包邮吗"]
            assert await shopper("几天能到")  # a cached turn after the desk's read
            assert await desk_reads() == ["发什么快递", "包邮吗", "几天能到"]

            await desk_posts([{"event": "pause"}])  # an agent took the conversation
            assert await shopper("有现货吗") == []  # paused: the bot stays quiet, the message is kept
            assert (await desk_reads())[-1] == "有现货吗"
            await desk_posts([{"event": "resume"}, {"event": "action", "name": "action_listen"}])
            assert await shopper("可以用花呗吗")  # handed back: the bot answers again
    finally:
        server.close()
        await server.wait_closed()

    # stored once each, in order, as Rasa's own store reads them
    plain = SQLTrackerStore(agent.domain, host=agent.tracker_store._tracker_store.engine.url.render_as_string(False))
    stored = await plain.retrieve("api-1")
    assert [e.text for e in stored.events if isinstance(e, UserUttered)] == [
        "发什么快递",
        "包邮吗",
        "几天能到",
        "有现货吗",
        "可以用花呗吗",
    ]
    cached = await agent.tracker_store.retrieve("api-1")
    assert cached.events == stored.events
    assert not cached.is_paused()
    assert agent.tracker_store._tracker_store.hits >= 2  # the turns in between came from the cache
