"""The scaled mode's desks for real (scripts/run-scaled.sh: PostgreSQL, Redis, two desk
processes under supervisord; Rasa is a fake holding the turn, so no model is needed):
desk A is killed (kill -9) while Rasa holds the shopper's turn and a second message
waits in A's buffers. The shopper goes to desk B at once, as a load balancer sends
them, and the client sends again what the history lacks (the widget's outbox). Desk B
finishes the turn dead A left once A's heartbeat has run out, taking the replies Rasa
had already given from its tracker; both messages are stored once and answered once,
checked in the desk's PostgreSQL database; supervisord has A back.

Skips, saying why, without PostgreSQL/Redis (scripts/ensure-services.sh installs them)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
import uuid

import aiohttp
import pytest
from aiohttp import web

from tests.desk.test_nolost import HeldRasa, bot_said, frame, frames_until
from tests.integration.procs import RUN, scaled_stack, services_missing, wait_http

MISSING = services_missing()
pytestmark = pytest.mark.skipif(bool(MISSING), reason=MISSING or "ok")


@pytest.fixture(scope="module")
def desks():
    secrets = dict(XIAOER_CHANNEL_SECRET="integration-channel-secret", XIAOER_RASA_API_SECRET="integration-rasa-token")
    with scaled_stack("xiaoer-desks-", rasa=0, actions=1, desks=2, env=secrets) as stack:
        yield stack


async def _shopper(session, port):
    from desk.tokens import issue_token

    url = f"http://127.0.0.1:{port}"
    ws = await session.ws_connect(url + "/ws/shop", headers={"Origin": url})
    await ws.send_json({"type": "auth", "token": issue_token("integration-test-secret", "buyer_006")})
    ws.history = (await frames_until(ws, lambda f: f["type"] == "history"))[-1]
    return ws


async def _kill_desk_a(desks):
    a, b = desks["desk"]
    rasa = HeldRasa(done_before_drop=True, channel_secret=desks["env"]["XIAOER_CHANNEL_SECRET"])
    runner = web.AppRunner(rasa.app())
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", desks["rasa"][0]).start()
    try:
        c1, c2 = uuid.uuid4().hex, uuid.uuid4().hex
        async with aiohttp.ClientSession() as session:
            ws = await _shopper(session, a)
            cid = ws.history["conversation_id"]
            rasa.hold = True
            await ws.send_json(frame("什么时候发货", c1))
            await frames_until(ws, lambda f: f["type"] == "message" and f["message"].get("client_id") == c1)
            await asyncio.wait_for(rasa.arrived.wait(), 10)
            await ws.send_json(frame("能开发票吗", c2))
            await asyncio.sleep(0.3)
            out = subprocess.run(
                [RUN, "ctl", "pid", f"desk:desk-{a}"], env=desks["env"], capture_output=True, text=True, timeout=30
            )
            t_kill = time.monotonic()
            os.kill(int(out.stdout.strip()), signal.SIGKILL)
            await asyncio.wait_for(rasa.handled.wait(), 10)  # Rasa had done the turn; the desk hung up
            rasa.hold = False
            await ws.close()

            ws = await _shopper(session, b)  # the load balancer's next desk
            history = ws.history["messages"]
            assert [m.get("client_id") for m in history if m["sender"] == "shopper"] == [c1]
            await ws.send_json(frame("能开发票吗", c2))  # the outbox: what the history lacks
            got = await frames_until(ws, bot_said("收到:能开发票吗"), 30)
            answered = time.monotonic() - t_kill
            await asyncio.sleep(0.5)
            await ws.close()
        bots = [f["message"]["text"] for f in got if f.get("message", {}).get("sender") == "bot"]
        assert bots == ["收到:什么时候发货", "收到:能开发票吗"], got
        return dict(cid=cid, c1=c1, c2=c2, rasa=rasa, answered=answered)
    finally:
        await runner.cleanup()


def test_desk_a_killed_mid_turn_desk_b_loses_nothing(desks):
    import psycopg2

    r = asyncio.run(_kill_desk_a(desks))
    with psycopg2.connect(dbname="desk", **desks["pg"]) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT id, sender, text, client_id FROM desk_messages WHERE conversation_id = %s ORDER BY id", (r["cid"],)
        )
        rows = cur.fetchall()
    said = [(s, t) for _, s, t, _ in rows if s in ("shopper", "bot")]
    assert said == [
        ("shopper", "什么时候发货"),
        ("bot", "收到:什么时候发货"),
        ("shopper", "能开发票吗"),
        ("bot", "收到:能开发票吗"),
    ], rows
    assert [c for _, s, _, c in rows if s == "shopper"] == [r["c1"], r["c2"]]
    shopper_ids = [str(i) for i, s, _, _ in rows if s == "shopper"]
    assert r["rasa"].runs == {shopper_ids[0]: 1, shopper_ids[1]: 1}  # no turn run twice
    back = wait_http(f"http://127.0.0.1:{desks['desk'][0]}/health", 60)
    assert back is not None, "desk A did not come back"
    print(f"desk A killed mid-turn: both messages answered on desk B {r['answered']:.1f} s after the kill")
