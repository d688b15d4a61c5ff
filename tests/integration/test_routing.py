"""desk/rasa.py with several Rasa workers: a conversation always goes to the same
worker, and to the next only when its own refuses the connection."""

from __future__ import annotations

import aiohttp
from aiohttp import web

from desk.rasa import RasaClient
from tests.integration.procs import free_port


async def _fake_rasa(name: str, got: list):
    async def webhook(request):
        body = await request.json()
        got.append((name, body["sender"]))
        return web.json_response([{"text": f"{name} 收到"}])

    app = web.Application()
    app.router.add_post("/webhooks/rest/webhook", webhook)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{port}"


async def test_each_conversation_sticks_to_one_worker_and_fails_over_when_it_is_down():
    got: list = []
    r1, u1 = await _fake_rasa("w1", got)
    r2, u2 = await _fake_rasa("w2", got)
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens: connection refused
    try:
        async with aiohttp.ClientSession() as s:
            rasa = RasaClient(s, f"{u1},{u2}")
            senders = [f"conv{i}" for i in range(20)]
            for sender in senders * 2:
                await rasa.send(sender, "你好", "buyer_001")
            by_sender = {}
            for worker, sender in got:
                by_sender.setdefault(sender, set()).add(worker)
            assert all(len(w) == 1 for w in by_sender.values())  # sticky
            assert {w for ws in by_sender.values() for w in ws} == {"w1", "w2"}  # both used
            got.clear()
            rasa = RasaClient(s, f"{dead},{u2}")
            for sender in senders:
                replies = await rasa.send(sender, "你好", "buyer_001")
                assert replies == [{"text": "w2 收到"}]
            assert len(got) == len(senders)  # each once: nothing sent twice
    finally:
        await r1.cleanup()
        await r2.cleanup()
