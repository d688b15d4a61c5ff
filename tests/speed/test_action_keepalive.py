"""The action endpoint keeps its connections open (rasa_ext/endpoints.py, issue #11): Rasa's
own `EndpointConfig.request` opened a new TCP connection for every custom action. The calls
go through Rasa's request() unchanged, to a real HTTP server that counts connections."""

from __future__ import annotations

import asyncio
import json
import math

from aiohttp import web
from rasa.utils.endpoints import EndpointConfig

from rasa_ext.endpoints import KeepAliveEndpointConfig


async def test_action_calls_share_one_connection_and_survive_a_server_restart(aiohttp_server):
    calls = {"n": 0}

    async def webhook(request: web.Request) -> web.Response:
        calls["n"] += 1
        assert request.headers["X-Xiaoer-Action-Secret"] == "s3cret"
        body = await request.json()
        return web.json_response({"events": [], "responses": [{"text": body["next_action"]}]})

    peers = set()

    @web.middleware
    async def note_peer(request, handler):
        peers.add(request.transport.get_extra_info("peername"))
        return await handler(request)

    def make_app() -> web.Application:
        app = web.Application(middlewares=[note_peer])
        app.router.add_post("/webhook", webhook)
        return app

    server = await aiohttp_server(make_app())
    url = str(server.make_url("/webhook"))
    plain = EndpointConfig(url, headers={"X-Xiaoer-Action-Secret": "s3cret"})
    kept = KeepAliveEndpointConfig.of(plain)

    for i in range(5):
        answer = await plain.request(json={"next_action": f"a{i}"}, method="post")
        assert answer["responses"] == [{"text": f"a{i}"}]
    assert len(peers) == 5  # Rasa's own: a new connection (a new client port) per call

    peers.clear()
    for i in range(5):
        answer = await kept.request(json={"next_action": f"b{i}"}, method="post")
        assert answer["responses"] == [{"text": f"b{i}"}]
    assert len(peers) == 1 and calls["n"] == 10  # one connection for all five

    # the action server restarts on the same port: the next call still gets its answer
    port = server.port
    await server.close()
    await asyncio.sleep(0.1)
    again = await aiohttp_server(make_app(), port=port)
    answer = await kept.request(json={"next_action": "after"}, method="post")
    assert answer["responses"] == [{"text": "after"}] and calls["n"] == 11
    await again.close()


async def test_the_action_server_receives_the_tracker_rasa_would_have_sent(aiohttp_server):
    """The body is ujson's, the same JSON value as the json module's, a lone surrogate in a
    shopper's text included; what ujson refuses (NaN) is still sent, by the json module."""
    bodies = []

    async def webhook(request: web.Request) -> web.Response:
        bodies.append(await request.read())
        return web.json_response({"events": [], "responses": []})

    app = web.Application()
    app.router.add_post("/webhook", webhook)
    server = await aiohttp_server(app)
    kept = KeepAliveEndpointConfig(str(server.make_url("/webhook")))
    tracker = {
        "sender_id": "买家/001",
        "events": [{"event": "user", "text": "我的订单 E2024 到哪了？😊\ud800", "parse_data": {"confidence": 0.8125}}],
        "slots": {"nested": {"a": [1, 2.5, None, True]}},
    }
    await kept.request(json={"next_action": "action_track_order", "tracker": tracker}, method="post")
    await kept.request(json={"next_action": "x", "tracker": {"score": float("nan")}}, method="post")

    first = bodies[0].decode("utf-8")
    assert len(bodies) == 2  # both calls answered
    assert json.loads(first) == {"next_action": "action_track_order", "tracker": tracker}
    assert math.isnan(json.loads(bodies[1])["tracker"]["score"])
