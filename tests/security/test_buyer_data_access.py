"""Issue 8, point 9: buyer data by role and ownership. Agents see phone numbers
masked except in the conversation they own; supervisors see them; notes only by
the owner or a supervisor; every view of a buyer's data is in the audit record."""

from __future__ import annotations

import json

from desk import auth
from desk.web import ENGINE
from tests.desk.conftest import OFFLINE, PASSWORD, handoff

PHONE = "13812345678"


async def setup(desk):
    await auth.create_agent(
        desk.client.app[ENGINE],
        "agent9",
        PASSWORD,
        role="agent",
        number="9",
        at=desk.clock(),
        hasher=auth.make_hasher({"time_cost": 1, "memory_cost": 1024, "parallelism": 1}),
    )
    ws = await desk.shopper("buyer_004")
    await desk.say(ws, "台灯质量太差了,我要投诉")
    await desk.expect(ws, "status", lambda f: f["status"] == "queued")
    await desk.say(ws, f"我的电话是{PHONE},地址杭州市西湖区文三路90号")
    await desk.expect(ws, "message", lambda f: PHONE in f["message"]["text"])
    await desk.login("agent8")
    [item] = await desk.queue()
    return ws, item["id"]


async def detail(desk, cid):
    r = await desk.client.get(f"/api/conversations/{cid}")
    assert r.status == 200
    return await r.json()


async def test_only_the_owner_and_supervisors_see_the_phone(desk):
    ws, cid = await setup(desk)
    text = json.dumps(await detail(desk, cid), ensure_ascii=False)  # agent8, not claimed yet
    assert PHONE not in text and "138****5678" in text
    assert (await desk.post(f"/api/conversations/{cid}/claim")).status == 200
    mine = await detail(desk, cid)
    assert mine["unmasked"] and PHONE in json.dumps(mine, ensure_ascii=False)
    await desk.login("agent9")
    other = json.dumps(await detail(desk, cid), ensure_ascii=False)
    assert PHONE not in other
    await desk.login("super1")
    assert PHONE in json.dumps(await detail(desk, cid), ensure_ascii=False)


async def test_queue_contact_is_masked(desk):
    desk.clock.now = OFFLINE
    desk.fake.replies = lambda text: [
        {"text": "请留下联系方式"},
        handoff("request_human", None, "low", 2, online=False),
    ]
    ws = await desk.shopper()
    await desk.say(ws, "转人工")
    await desk.expect(ws, "status")
    await desk.say(ws, f"电话{PHONE}")
    await desk.login()
    [item] = await desk.queue()
    assert item["contact"] == "138****5678"


async def test_notes_only_by_the_owner_or_a_supervisor(desk):
    ws, cid = await setup(desk)
    assert (await desk.post(f"/api/conversations/{cid}/claim")).status == 200
    assert (await desk.post(f"/api/conversations/{cid}/note", {"text": "已核实"})).status == 200
    await desk.login("agent9")
    r = await desk.post(f"/api/conversations/{cid}/note", {"text": "我也来写一句"})
    assert r.status == 409 and (await r.json())["error"] == "not_yours"
    await desk.login("super1")
    assert (await desk.post(f"/api/conversations/{cid}/note", {"text": "主管已阅"})).status == 200
    notes = [m["text"] for m in (await detail(desk, cid))["messages"] if m["sender"] == "note"]
    assert notes == ["已核实", "主管已阅"]


async def test_every_view_is_audited(desk):
    ws, cid = await setup(desk)
    await detail(desk, cid)  # agent8, masked
    await desk.login("agent9")
    await detail(desk, cid)  # agent9, masked
    assert (await desk.client.get("/api/audit")).status == 403  # agents cannot read the audit
    await desk.login("super1")
    await detail(desk, cid)  # super1, unmasked
    rows = await (await desk.client.get("/api/audit", params={"buyer_id": "buyer_004"})).json()
    seen = [(r["actor"], r["data"]["unmasked"]) for r in reversed(rows)]
    assert seen == [("agent8", False), ("agent9", False), ("super1", True)]
    assert all(r["conversation_id"] == cid for r in rows)


async def test_live_feed_masks_phones_for_agents(desk):
    ws, cid = await setup(desk)
    console = await desk.client.ws_connect("/ws/console", headers={"Origin": desk.origin})  # agent8
    await desk.say(ws, f"再发一次{PHONE}")
    while True:
        frame = json.loads((await console.receive(timeout=5)).data)
        if frame.get("type") == "message" and "再发一次" in frame["message"]["text"]:
            break
    assert PHONE not in frame["message"]["text"] and "138****5678" in frame["message"]["text"]
