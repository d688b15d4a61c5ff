"""Issue 13, the desk for a team: presence shared by two desk processes, search and
history, a supervisor watching and taking over, reports with known answers."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import datetime, timedelta, timezone

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from desk import create_app, db
from desk.web import CONFIG, ENGINE
from tests.desk.conftest import Desk, handoff
from tests.desk.test_desk import complain

ORDER = "DD20261118000123"


async def test_two_desk_processes_agree_on_presence_and_assign(aiohttp_client, make_config, fake_rasa, clock):
    """One database, two desks: agent8 goes online on desk A; desk B, where the shopper
    is, sees it and assigns the complaint to agent8."""
    a = Desk(await aiohttp_client(create_app(make_config())), fake_rasa, clock)
    b = Desk(await aiohttp_client(create_app(make_config())), fake_rasa, clock)
    await a.login("agent8")
    assert (await a.post("/api/presence", {"status": "online"})).status == 200
    await b.login("super1")
    presence = {x["name"]: x["presence"] for x in await (await b.client.get("/api/agents")).json()}
    assert presence["agent8"] == "online" and presence["super1"] == "offline"
    ws = await b.shopper("buyer_004")
    await b.say(ws, "你们的台灯质量太差了,我要投诉")
    joined = await b.expect(ws, "message", lambda f: "工号 8 为您服务" in f["message"]["text"])
    assert joined["message"]["sender"] == "system"
    [item] = await a.queue()
    assert (item["status"], item["agent"]) == ("assigned", "agent8")
    # away on desk B: desk A assigns nothing more to agent8
    await b.login("agent8")
    await b.post("/api/presence", {"status": "away"})
    await complain(a, "buyer_005")
    waiting = [q for q in await a.queue() if q["buyer_id"] == "buyer_005"]
    assert waiting[0]["status"] == "queued"
    presence = {x["name"]: x["presence"] for x in await (await a.client.get("/api/agents")).json()}
    assert presence["agent8"] == "away"


async def test_a_desk_alone_restarts_with_everyone_offline(aiohttp_client, make_config, fake_rasa, clock):
    first = Desk(await aiohttp_client(create_app(make_config())), fake_rasa, clock)
    await first.login("agent8")
    await first.post("/api/presence", {"status": "online"})
    await first.client.close()  # the desk stops (or crashes) with agent8 still 在线
    again = Desk(await aiohttp_client(create_app(make_config())), fake_rasa, clock)
    await again.login("agent8")
    presence = {x["name"]: x["presence"] for x in await (await again.client.get("/api/agents")).json()}
    assert presence["agent8"] == "offline"
    await complain(again, "buyer_004")
    assert [q["status"] for q in await again.queue()] == ["queued"]  # not assigned to an empty chair


async def _search(desk, **params):
    r = await desk.client.get("/api/search", params=params)
    assert r.status == 200, await r.text()
    return (await r.json())["results"]


async def test_search_by_buyer_order_text_status_and_date(desk):
    ws4, _ = await complain(desk, "buyer_004", f"订单{ORDER}的耳机一边没声音,质量太差我要投诉")
    desk.clock.advance(days=2)
    ws5 = await desk.shopper("buyer_005")
    await desk.say(ws5, "我的电话是13812345678,帮我改一下地址")
    await desk.expect(ws5, "message", lambda f: f["message"]["sender"] == "bot")
    await desk.login("agent8")
    # by order number: the complaint, with the sentence that names it
    [hit] = await _search(desk, order=ORDER)
    assert hit["buyer_id"] == "buyer_004" and ORDER in hit["match"]["text"] and hit["status"] == "queued"
    # by text, by buyer, by status
    assert [h["buyer_id"] for h in await _search(desk, q="改一下地址")] == ["buyer_005"]
    assert {h["buyer_id"] for h in await _search(desk, buyer="buyer_00")} == {"buyer_004", "buyer_005"}
    assert [h["buyer_id"] for h in await _search(desk, status="queued")] == ["buyer_004"]
    assert [h["buyer_id"] for h in await _search(desk, status="bot")] == ["buyer_005"]
    # by date (days in the store's time zone): 2026-11-20 is the complaint, 11-22 the address
    assert [h["buyer_id"] for h in await _search(desk, **{"from": "2026-11-20", "to": "2026-11-20"})] == ["buyer_004"]
    assert [h["buyer_id"] for h in await _search(desk, **{"from": "2026-11-21", "to": "2026-11-30"})] == ["buyer_005"]
    assert await _search(desk, q="没声音", **{"from": "2026-11-21"}) == []
    # a % in the query is a character, not a wildcard
    assert await _search(desk, q="%") == []
    # masked for an agent who does not own the conversation, in full for a supervisor
    [hit] = await _search(desk, q="电话")
    assert "138****5678" in hit["match"]["text"] and "13812345678" not in str(hit)
    await desk.login("super1")
    [hit] = await _search(desk, q="电话")
    assert "13812345678" in hit["match"]["text"]
    # bad queries are a clean 400
    for params in (
        {},
        {"status": "lost"},
        {"from": "2026-13-01"},
        {"from": "2026-11-22", "to": "2026-11-01"},
        {"q": "x" * 101},
    ):
        r = await desk.client.get("/api/search", params=params)
        assert r.status == 400, params
    await desk.client.post("/api/logout", headers={"Origin": desk.origin})
    assert (await desk.client.get("/api/search", params={"q": "投诉"})).status == 401


async def test_earlier_cases_and_the_resolved_list(desk):
    ws, _ = await complain(desk, "buyer_004")
    await desk.login("agent8")
    [item] = await desk.queue()
    cid = item["id"]
    assert (await desk.post(f"/api/conversations/{cid}/claim")).status == 200
    desk.clock.advance(minutes=5)
    assert (await desk.post(f"/api/conversations/{cid}/resolve")).status == 200
    await desk.expect(ws, "message", lambda f: f["message"].get("satisfaction"))
    await ws.send_json({"type": "rating", "score": 5})
    await desk.expect(ws, "message", lambda f: "谢谢您的评价" in f["message"]["text"])
    # the resolved list: rated, so the bot's again, and still listed with who resolved it
    [done] = (await (await desk.client.get("/api/resolved")).json())["results"]
    assert (done["id"], done["status"], done["resolved_by"], done["rating"]) == (cid, "bot", "agent8", 5)
    # a week later the buyer complains again
    desk.clock.advance(days=7)
    desk.fake.replies = lambda text: [{"text": "非常抱歉"}, handoff("complaint", "服务质量", summary="快递员态度差")]
    await desk.say(ws, "快递员态度太差了,我要投诉")
    await desk.expect(ws, "status", lambda f: f["status"] == "queued")
    await desk.login("agent8")  # a new day, a new session
    r = await desk.client.get(f"/api/conversations/{cid}/cases")
    cases = (await r.json())["cases"]
    assert [(c["open"], c["category"], c["summary"]) for c in cases] == [
        (True, "服务质量", "快递员态度差"),
        (False, "商品质量", "质量太差了"),
    ]
    earlier = cases[1]
    assert (earlier["agent"], earlier["resolved_by"], earlier["rating"]) == ("agent8", "agent8", 5)
    assert earlier["started_at"].startswith("2026-11-20") and earlier["resolved_at"] is not None
    assert (await desk.client.get("/api/conversations/nope/cases")).status == 404
    # a resolved conversation waiting for its rating is on the resolved list
    [item] = await desk.queue()
    await desk.post(f"/api/conversations/{cid}/claim")
    await desk.post(f"/api/conversations/{cid}/resolve")
    assert [h["id"] for h in await _search(desk, status="resolved")] == [cid]


async def test_a_supervisor_watches_and_takes_over_a_live_conversation(desk):
    ws = await desk.shopper("buyer_004")
    await desk.say(ws, "这个耳机能连两台手机吗")
    await desk.expect(ws, "message", lambda f: f["message"]["sender"] == "bot")
    await desk.login("agent8")
    assert (await desk.client.get("/api/live")).status == 403
    r = await desk.post("/api/conversations/x/takeover")
    assert r.status == 403
    await desk.login("super1")
    [live] = (await (await desk.client.get("/api/live")).json())["results"]
    assert live["buyer_id"] == "buyer_004" and live["status"] == "bot"
    assert "两台手机" in live["match"]["text"]
    cid = live["id"]
    # watching: the supervisor's console socket gets the conversation's messages live
    console = await desk.client.ws_connect("/ws/console", headers={"Origin": desk.origin})
    await desk.say(ws, "蓝牙5.3的吗")
    seen = await desk.expect(
        console, "message", lambda f: f["conversation_id"] == cid and f["message"]["sender"] == "shopper"
    )
    assert seen["message"]["text"] == "蓝牙5.3的吗"
    await desk.expect(ws, "message", lambda f: f["message"]["sender"] == "bot")
    sent = len(desk.fake.received)
    r = await desk.post(f"/api/conversations/{cid}/takeover")
    assert r.status == 200 and (await r.json())["status"] == "assigned"
    await desk.expect(ws, "message", lambda f: "工号 1 为您服务" in f["message"]["text"])
    # the bot stays silent now; the shopper's words reach the supervisor
    await desk.say(ws, "好的谢谢")
    await desk.expect(console, "message", lambda f: f["message"]["text"] == "好的谢谢")
    await asyncio.sleep(0.2)
    assert len(desk.fake.received) == sent
    detail = await (await desk.client.get(f"/api/conversations/{cid}")).json()
    taken = [e for e in detail["events"] if e["name"] == "conversation.taken_over"]
    assert taken[0]["actor"] == "super1" and taken[0]["data"] == {"from": "bot"}
    assert (await desk.post(f"/api/conversations/{cid}/takeover")).status == 409  # already theirs
    await console.close()


async def test_a_supervisor_takes_over_from_an_agent(desk):
    ws, _ = await complain(desk, "buyer_004")
    await desk.login("agent8")
    [item] = await desk.queue()
    cid = item["id"]
    await desk.post(f"/api/conversations/{cid}/claim")
    agent_console = await desk.client.ws_connect("/ws/console", headers={"Origin": desk.origin})
    await asyncio.sleep(0.05)
    await desk.login("super1")
    assert (await desk.post(f"/api/conversations/{cid}/takeover")).status == 200
    alert = await desk.expect(agent_console, "taken_over")
    assert (alert["agent"], alert["by"], alert["conversation_id"]) == ("agent8", "super1", cid)
    [item] = await desk.queue()
    assert item["agent"] == "super1"
    await desk.login("agent8")
    r = await desk.post(f"/api/conversations/{cid}/reply", {"text": "您好"})
    assert r.status == 409  # no longer theirs
    await agent_console.close()


# ---- reports on a seeded database ---------------------------------------------------------------
T0 = datetime(2026, 11, 16, 2, 0, tzinfo=timezone.utc)  # Monday 10:00 in Shanghai


async def seed(engine, agents, buyer="buyer_{:03d}", prefix=""):
    """Known answers:
    Mon 11-16: 4 conversations; c1 and c2 handed over; c1 answered after 120 s, resolved after
      600 s, rated 5 (agent8); c2 answered after 300 s, resolved after 1800 s, rated 2 (agent8);
      c3, c4 bot only -> containment 2/4. c2 is a photo first, re-qualified as a complaint
      (商品质量); c1 is a request for a person. One 预警 (c2, step 0).
    Tue 11-17 01:00 Shanghai (= Mon 17:00 UTC): c5 complains (服务质量), answered after 60 s,
      never resolved; c3 writes again, bot only -> containment 1/2. A rating 4 for super1.
    Mon 11-23: c6 bot only."""
    at = lambda **kw: T0 + timedelta(**kw)
    a8, s1 = agents["agent8"], agents["super1"]
    convs = ["c1", "c2", "c3", "c4", "c5", "c6"]
    cid_of = {c: prefix + c for c in convs}  # ids (and buyers) that do not collide with a browser test's
    async with engine.begin() as conn:
        for i, cid in enumerate(convs):
            await conn.execute(
                db.conversations.insert().values(
                    id=cid_of[cid],
                    buyer_id=buyer.format(i),
                    status="bot",
                    created_at=T0,
                    updated_at=T0,
                    for_supervisor=False,
                    overdue=False,
                    awaiting_rating=False,
                )
            )
        msgs = [
            ("c1", "shopper", at()),
            ("c2", "shopper", at()),
            ("c3", "shopper", at(hours=1)),
            ("c4", "shopper", at(hours=2)),
            ("c1", "agent", at(seconds=120)),
            ("c2", "agent", at(seconds=300)),
            ("c2", "agent", at(seconds=400)),
            ("c5", "shopper", at(hours=15)),
            ("c3", "shopper", at(hours=15)),
            ("c5", "agent", at(hours=15, seconds=60)),
            ("c6", "shopper", at(days=7)),
        ]
        for cid, sender, when in msgs:
            await conn.execute(
                db.messages.insert().values(
                    conversation_id=cid_of[cid], sender=sender, text="…", data={}, created_at=when
                )
            )
        evs = [
            ("c1", "conversation.queued", {"reason": "request_human", "category": None}, at()),
            ("c1", "conversation.assigned", {}, at(seconds=60)),
            ("c1", "conversation.resolved", {}, at(seconds=600)),
            ("c2", "conversation.queued", {"reason": "photos", "category": "商品质量"}, at()),
            ("c2", "conversation.requalified", {"reason": "complaint", "category": "商品质量"}, at(seconds=30)),
            ("c2", "conversation.resolved", {}, at(seconds=1800)),
            ("c5", "conversation.queued", {"reason": "complaint", "category": "服务质量"}, at(hours=15)),
        ]
        for cid, name, data, when in evs:
            await conn.execute(
                db.events.insert().values(conversation_id=cid_of[cid], name=name, actor="x", data=data, created_at=when)
            )
        for cid, agent, score, when in (
            ("c1", a8, 5, at(seconds=700)),
            ("c2", a8, 2, at(seconds=1900)),
            ("c5", s1, 4, at(hours=16)),
        ):
            await conn.execute(
                db.ratings.insert().values(
                    conversation_id=cid_of[cid], agent_id=agent, score=score, comment="", created_at=when
                )
            )
        await conn.execute(
            db.warnings.insert().values(
                conversation_id=cid_of["c2"],
                trigger="unsatisfied",
                problem="【商品质量】【投诉】耳机一边没声音",
                handling="已请买家拍照,答应换新",
                unhappy="评分 2 分:换货太慢",
                step=0,
                step_due_at=at(hours=1),
                close_due_at=at(days=2),
                overdue=False,
                created_at=at(seconds=1900),
            )
        )


async def test_reports_give_the_known_figures_per_day_and_week(aiohttp_client, make_config, fake_rasa, clock):
    from sqlalchemy import select

    clock.now = T0 + timedelta(days=8)
    desk = Desk(await aiohttp_client(create_app(make_config())), fake_rasa, clock)
    engine = desk.client.app[ENGINE]
    async with engine.connect() as conn:
        agents = dict((await conn.execute(select(db.agents.c.name, db.agents.c.id))).all())
    await seed(engine, agents)
    await desk.login("agent8")
    assert (await desk.client.get("/api/reports")).status == 403
    await desk.login("super1")
    r = await desk.client.get("/api/reports", params={"period": "day", "from": "2026-11-16", "to": "2026-11-23"})
    rep = await r.json()
    rows = {x["period"]: x for x in rep["rows"]}
    assert list(rows) == [f"2026-11-{d}" for d in range(16, 24)]
    mon, tue = rows["2026-11-16"], rows["2026-11-17"]
    assert (mon["conversations"], mon["handed_over"], mon["contained"], mon["containment"]) == (4, 2, 2, 0.5)
    assert (mon["first_response_avg_s"], mon["first_response_median_s"]) == (210.0, 210.0)
    assert (mon["resolution_avg_s"], mon["resolved"]) == (1200.0, 2)
    assert (mon["ratings"], mon["csat_avg"], mon["csat_satisfied_share"]) == (2, 3.5, 0.5)
    # 01:00 in Shanghai is the next day, though it is still Monday in UTC
    assert (tue["conversations"], tue["handed_over"], tue["containment"]) == (2, 1, 0.5)
    assert (tue["first_response_avg_s"], tue["resolved"], tue["resolution_avg_s"]) == (60.0, 0, None)
    assert rows["2026-11-18"]["containment"] is None  # nobody wrote: no rate, not 0 %
    assert rows["2026-11-23"]["containment"] == 1.0
    totals = rep["totals"]
    assert (totals["conversations"], totals["handed_over"], totals["containment"]) == (6, 3, 0.5)
    assert totals["first_response_median_s"] == 120.0 and totals["csat_avg"] == 3.67
    per_agent = {(x["agent"], x["period"]): x for x in rep["agents"]}
    assert per_agent[("agent8", "total")]["csat_avg"] == 3.5
    assert per_agent[("super1", "2026-11-17")]["csat_avg"] == 4.0
    assert rep["complaints"] == [
        {"period": "2026-11-16", "category": "商品质量", "count": 1},
        {"period": "2026-11-17", "category": "服务质量", "count": 1},
    ]
    first_step = desk.client.app[CONFIG].escalation["ladder"][0]["label"]  # 形成投诉预警信息,上报客服主管
    assert rep["warnings"] == [{"period": "2026-11-16", "step": first_step, "count": 1}]
    # per week: Monday 11-16 and Monday 11-23
    week = await (
        await desk.client.get("/api/reports", params={"period": "week", "from": "2026-11-16", "to": "2026-11-23"})
    ).json()
    weeks = {x["period"]: x for x in week["rows"]}
    assert list(weeks) == ["2026-11-16", "2026-11-23"]
    assert (weeks["2026-11-16"]["conversations"], weeks["2026-11-16"]["handed_over"]) == (5, 3)
    assert weeks["2026-11-16"]["cases"] == 3
    assert weeks["2026-11-23"]["containment"] == 1.0
    # CSV: the same figures
    r = await desk.client.get("/api/reports.csv", params={"period": "day", "from": "2026-11-16", "to": "2026-11-23"})
    assert r.status == 200 and r.content_type == "text/csv"
    assert "attachment" in r.headers["Content-Disposition"]
    table = list(csv.reader(io.StringIO((await r.text()).lstrip("\ufeff"))))
    assert table[0] == ["周期", "指标", "分项", "数值"]
    assert ["2026-11-16", "机器人独立解决率", "", "0.5"] in table
    assert ["2026-11-16", "平均首次响应时长(秒)", "", "210.0"] in table
    assert ["合计", "平均满意度(1-5分)", "agent8", "3.5"] in table
    assert ["2026-11-17", "投诉(按类别)", "服务质量", "1"] in table
    # bad ranges and periods are a clean 400
    for params in (
        {"period": "month"},
        {"from": "2026-11-20", "to": "2026-11-01"},
        {"from": "20261101"},
        {"from": "2024-01-01", "to": "2026-01-01"},
    ):
        assert (await desk.client.get("/api/reports", params=params)).status == 400, params
    # the default range is the last 14 days, ending today
    rep = await (await desk.client.get("/api/reports")).json()
    assert (rep["from"], rep["to"]) == ("2026-11-11", "2026-11-24")


async def test_the_reports_page_uses_the_vendored_chart_library(desk):
    await desk.login("super1")
    page = await (await desk.client.get("/reports")).text()
    assert "/vendor/chartjs/chart.umd.js" in page and "/reports.js" in page
    assert (await desk.client.get("/reports.js")).status == 200
    assert (await desk.client.get("/vendor/chartjs/chart.umd.js")).status == 200


# ---- hostile input on the new routes ------------------------------------------------------------

TEAM_ROUTES = [
    ("GET", "/api/search"),
    ("GET", "/api/conversations/{id}/cases"),
    ("GET", "/api/live"),
    ("GET", "/api/resolved"),
    ("POST", "/api/conversations/{id}/takeover"),
    ("GET", "/api/reports"),
    ("GET", "/api/reports.csv"),
    ("GET", "/reports"),
    ("GET", "/reports.js"),
]
QUERY = st.dictionaries(
    st.sampled_from(["q", "buyer", "order", "status", "from", "to", "period", "minutes"]),
    st.one_of(
        st.text(max_size=30),
        st.sampled_from(
            [
                "2026-11-20",
                "2026-02-30",
                "9999-12-31",
                "0001-01-01",
                "week",
                "resolved",
                "1e9",
                "%",
                "_",
                "\\",
                "\x00",
                "-1",
                "1441",
                "٣",
            ]
        ),
    ),
    max_size=4,
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(
    route=st.sampled_from(TEAM_ROUTES),
    ident=st.text(min_size=1, max_size=20),
    query=QUERY,
    role=st.sampled_from(["super1", "agent8"]),
)
async def test_fuzz_the_team_routes(desk, route, ident, query, role):
    from urllib.parse import quote

    if getattr(desk, "fuzz_role", None) != role:
        assert (await desk.login(role)).status == 200
        desk.fuzz_role = role
    method, path = route
    r = await desk.client.request(
        method,
        path.replace("{id}", quote(ident, safe="")),
        params=query,
        headers={"Origin": desk.origin, "Connection": "close"},
    )
    assert r.status < 500, (method, path, ident, query, r.status, await r.text())
