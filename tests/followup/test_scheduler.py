"""F1-F4 with a fake clock: what the shopper would see, when, and only once."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
import sqlalchemy as sa
from followup_helpers import T0, FakeChannel, new_order

from followup import JobState, PromiseState, QuietHours, db
from shop.models import RecordKind, RecordState
from shop.status import OrderStatus

D = OrderStatus.DELIVERED


@pytest.mark.asyncio
async def test_delivery_check_at_the_configured_time_with_the_rendered_message(make, shop, clock):
    await new_order(shop, clock, "DD20261117001", status=D, at=T0)
    ch = FakeChannel()
    ch.online.add("buyer_001")
    s = await make(ch)
    assert (await s.scan())["delivery_check"] == 1
    clock.advance(minutes=2879)
    await s.tick()
    assert ch.sent == []  # not a minute early
    clock.advance(minutes=1)  # two days after delivery: 10:00 local
    assert (await s.tick())["sent"] == 1
    [m] = ch.sent
    assert m["text"] == (
        "您好亲,我是星耀数码旗舰店的客服小星~您的订单DD20261117001(星耀编织数据线(白色 / 1米) ×1)"
        "物流显示2026-11-20 10:00已经签收了,想了解一下您收到货了吗?用着还满意吗?"
    )
    assert [b["title"] for b in m["buttons"]] == [
        "收到了,很满意",
        "收到了,不太满意",
        "没有收到",
        "家人朋友代收的",
        "正准备去签收",
    ]
    assert "XX" not in m["text"] and "{" not in m["text"]
    [job] = await s.jobs()
    assert job["state"] == JobState.SENT.value and job["text"] == m["text"]
    clock.advance(days=3)
    await s.scan()  # the next scan does not schedule it again
    await s.tick()
    assert len(ch.sent) == 1


@pytest.mark.asyncio
async def test_unpaid_reminder_once_only_per_order_with_the_platform_delay(make, shop, clock, config):
    await new_order(shop, clock, "DD20261120001", status=OrderStatus.UNPAID, at=T0)
    ch = FakeChannel()
    ch.online.add("buyer_001")
    s = await make(ch, cfg=config.with_(rate_max=10))
    await s.scan()
    await s.scan()  # scanned twice, one job
    unpaid = [j for j in await s.jobs() if j["kind"] == "unpaid_reminder"]
    assert len(unpaid) == 1 and unpaid[0]["due_at"] == T0 + timedelta(minutes=60)  # store.yml: tmall
    clock.advance(minutes=60)
    await s.tick()
    [m] = [x for x in ch.sent if x["kind"] == "unpaid_reminder"]
    assert m["text"] == (
        "您好亲,看到您在星耀数码旗舰店拍下的订单DD20261120001(星耀编织数据线(白色 / 1米) ×1,共29.9元)"
        "还没有付款,是支付上遇到问题了吗?有任何疑问都可以告诉我,我来帮您解决~"
    )
    for _ in range(3):
        clock.advance(hours=5)
        await s.scan()
        await s.tick()
    assert len([x for x in ch.sent if x["kind"] == "unpaid_reminder"]) == 1


@pytest.mark.asyncio
async def test_unpaid_reminder_uses_the_platform_setting(make, shop, clock, config):
    import dataclasses

    from xiaoer.store_config import get_store

    await new_order(shop, clock, "DD20261120002", status=OrderStatus.UNPAID, at=T0)
    s = await make(cfg=config)
    s.store = dataclasses.replace(get_store(), platform="pdd")
    await s.scan()
    [job] = [j for j in await s.jobs() if j["order_id"] == "DD20261120002"]
    assert job["due_at"] == T0 + timedelta(minutes=30)


@pytest.mark.asyncio
async def test_paid_in_the_meantime_no_reminder(make, shop, clock):
    await new_order(shop, clock, "DD20261120003", status=OrderStatus.UNPAID, at=T0)
    ch = FakeChannel()
    ch.online.add("buyer_001")
    s = await make(ch)
    await s.scan()
    await shop.advance("DD20261120003", OrderStatus.PAID, at=T0 + timedelta(minutes=20))
    clock.advance(minutes=61)
    await s.tick()
    assert [x for x in ch.sent if x.get("kind") == "unpaid_reminder"] == []
    [job] = [j for j in await s.jobs() if j["order_id"] == "DD20261120003"]
    assert job["state"] == "cancelled" and job["note"] == "no_longer_relevant"


@pytest.mark.parametrize(
    "local_due,expected_local",
    [
        ("23:30", "07:00"),  # night: next morning
        ("06:10", "07:00"),
        ("12:00", "13:00"),  # lunch
        ("18:00", "19:00"),  # dinner
        ("10:00", "10:00"),  # allowed
    ],
)
def test_quiet_hours_next_allowed(local_due, expected_local):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    tz = ZoneInfo("Asia/Shanghai")
    q = QuietHours(["22:00-07:00", "11:30-13:00", "17:30-19:00"], "Asia/Shanghai")
    h, m = map(int, local_due.split(":"))
    at = datetime(2026, 11, 20, h, m, tzinfo=tz)
    out = q.next_allowed(at).astimezone(tz)
    assert out.strftime("%H:%M") == expected_local
    assert out >= at and (out - at) < timedelta(hours=9)


@pytest.mark.asyncio
async def test_quiet_hours_defer_the_delivery_check_to_the_next_morning(make, shop, clock):
    # delivered 22:30 local on the 18th: due 22:30 on the 20th, a quiet time
    delivered = T0 - timedelta(days=2) + timedelta(hours=12, minutes=30)
    await new_order(shop, clock, "DD20261117002", status=D, at=delivered)
    ch = FakeChannel()
    ch.online.add("buyer_001")
    s = await make(ch)
    await s.scan()
    clock.now = delivered + timedelta(days=2)
    assert (await s.tick())["deferred"] == 1
    assert ch.sent == []
    [job] = await s.jobs()
    assert job["note"] == "quiet_hours"
    assert job["due_at"] == T0 + timedelta(days=1) - timedelta(hours=3)  # 07:00 local on the 21st
    clock.now = job["due_at"] - timedelta(minutes=1)
    await s.tick()
    assert ch.sent == []
    clock.now = job["due_at"]
    await s.tick()
    assert len(ch.sent) == 1


@pytest.mark.asyncio
async def test_offline_shopper_gets_it_on_the_next_visit(make, shop, clock):
    await new_order(shop, clock, "DD20261117003", status=D, at=T0)
    ch = FakeChannel()
    s = await make(ch)
    await s.scan()
    clock.advance(days=2)
    assert (await s.tick())["waiting"] == 1
    await s.tick()
    assert ch.sent == []
    clock.advance(hours=3)
    ch.online.add("buyer_001")  # opens the widget
    assert (await s.tick())["sent"] == 1
    assert ch.sent[0]["kind"] == "delivery_check"


@pytest.mark.asyncio
async def test_opt_out_words_stop_every_follow_up(make, shop, clock):
    await new_order(shop, clock, "DD20261117004", status=D, at=T0)
    ch = FakeChannel()
    ch.online.add("buyer_001")
    s = await make(ch)
    await s.scan()
    ch.inbox.append((7, "buyer_001", "以后别再给我发这种消息了,谢谢"))
    clock.advance(days=2)
    counts = await s.tick()
    assert counts["opted_out"] == 1 and ch.sent == []
    assert await s.opted_out("buyer_001")
    [job] = await s.jobs()
    assert job["state"] == "cancelled" and job["note"] == "opted_out"
    await new_order(shop, clock, "DD20261120009", status=OrderStatus.UNPAID, at=clock())
    await s.scan()
    clock.advance(hours=2)
    await s.tick()
    assert ch.sent == []


@pytest.mark.asyncio
async def test_rate_limit_per_shopper_defers_the_third_message(make, shop, clock, config):
    for n in (1, 2, 3):
        await new_order(shop, clock, f"DD2026111700{n}", status=D, at=T0)
    ch = FakeChannel()
    ch.online.add("buyer_001")
    s = await make(ch, cfg=config.with_(rate_max=2, rate_hours=24))
    await s.scan()
    clock.advance(days=2)
    counts = await s.tick()
    assert counts["sent"] == 2 and counts["deferred"] == 1
    third = [j for j in await s.jobs() if j["state"] == "pending"][0]
    assert third["note"] == "rate_limit" and third["due_at"] == clock() + timedelta(hours=24)
    clock.advance(hours=24)
    await s.tick()
    assert len(ch.sent) == 3


@pytest.mark.asyncio
async def test_restart_with_pending_timers_loses_nothing(make, shop, clock):
    await new_order(shop, clock, "DD20261117005", status=D, at=T0)
    ch = FakeChannel()
    ch.online.add("buyer_001")
    first = await make(ch, owner="before-restart")
    await first.scan()
    await first.engine.dispose()  # the desk stops
    clock.advance(days=2, minutes=5)
    second = await make(ch, owner="after-restart")  # a new process over the same database
    assert (await second.tick())["sent"] == 1
    assert len(ch.sent) == 1


@pytest.mark.asyncio
async def test_a_process_that_died_while_sending_is_not_sent_twice(make, shop, clock):
    await new_order(shop, clock, "DD20261117006", status=D, at=T0)
    ch = FakeChannel()
    ch.online.add("buyer_001")
    s = await make(ch, owner="dies")
    await s.scan()
    clock.advance(days=2)

    async def crash(*a, **kw):
        raise RuntimeError("process killed after delivering")

    s._record_sent = crash
    await s.tick()
    assert len(ch.sent) == 1
    [job] = await s.jobs()
    assert job["state"] == "sending"
    other = await make(ch, owner="survivor")
    await other.tick()  # lease still running: nobody touches it
    clock.advance(seconds=121)
    await other.tick()
    [job] = await other.jobs()
    assert job["state"] == "sent" and len(ch.sent) == 1


@pytest.mark.asyncio
async def test_two_schedulers_on_one_database_fire_each_job_once(make, shop, clock):
    for n in range(1, 7):
        await new_order(
            shop, clock, f"DD202611180{n:02d}", status=D, at=T0, buyer="buyer_001" if n % 2 else "buyer_002"
        )
    ch = FakeChannel()
    ch.online |= {"buyer_001", "buyer_002"}
    a, b = await make(ch, owner="desk-a"), await make(ch, owner="desk-b")
    await asyncio.gather(a.scan(), b.scan())
    clock.advance(days=2)
    cfg_rate = a.config.rate_max
    for _ in range(3):
        await asyncio.gather(a.tick(), b.tick())
    ids = [m["job_id"] for m in ch.sent]
    assert len(ids) == len(set(ids))  # never twice
    assert len(ids) == 2 * cfg_rate  # both shoppers up to their rate limit
    async with a.engine.connect() as conn:
        claims = (await conn.execute(sa.select(db.events.c.actor).where(db.events.c.name == "job.sent"))).all()
    assert len(claims) == len(ids)


@pytest.mark.asyncio
async def test_promise_reminded_before_due_then_kept(make, shop, clock):
    alerts = []
    rec = await shop.promise_follow_up(
        buyer_id="buyer_001",
        topic="invoice_reissue: 发票还没收到",
        due_at=T0 + timedelta(hours=5),
        conversation_id="conv-buyer_001",
    )
    ch = FakeChannel()
    ch.online.add("buyer_001")
    s = await make(ch)

    class Agents:
        async def alert(self, kind, p):
            alerts.append((kind, p["record_id"]))

    s.agents = Agents()
    await s.scan()
    [p] = await s.promises()
    assert p["state"] == "open" and p["due_at"] == T0 + timedelta(hours=5) and not p["overdue"]
    clock.advance(minutes=269)
    await s.tick()
    assert alerts == []
    clock.advance(minutes=1)  # 30 minutes before due
    await s.tick()
    assert alerts == [("promise.reminder", rec.record_id)]
    assert (await s.promises())[0]["state"] == PromiseState.REMINDED.value
    assert await s.keep_promise(p["id"], "客服8号", "您好,发票已经重新开好,发到您的邮箱了,请查收~")
    assert await s.promises() == []  # gone from the console's open list
    [closed] = [
        r for r in await shop.records_for("buyer_001", kind=RecordKind.FOLLOW_UP) if r.record_id == rec.record_id
    ]
    assert closed.state == RecordState.DONE
    await s.tick()
    [m] = ch.sent
    assert m["kind"] == "promise_kept" and m["speaker"] == "agent" and m["text"].startswith("您好,发票已经重新开好")
    clock.advance(hours=3)
    await s.tick()
    assert [a[0] for a in alerts] == ["promise.reminder"]  # a kept promise is never overdue


@pytest.mark.asyncio
async def test_promise_missed_is_flagged_and_the_shopper_gets_an_apology(make, shop, clock):
    alerts = []
    await shop.promise_follow_up(
        buyer_id="buyer_001",
        topic="handoff:complaint: 质量问题",
        due_at=T0 + timedelta(hours=4),
        conversation_id="conv-buyer_001",
    )
    ch = FakeChannel()
    ch.online.add("buyer_001")
    s = await make(ch)

    class Agents:
        async def alert(self, kind, p):
            alerts.append(kind)

    s.agents = Agents()
    await s.scan()
    clock.advance(hours=4)
    await s.tick()
    [p] = await s.promises()
    assert p["state"] == "overdue" and p["overdue"]
    assert alerts == ["promise.overdue"]
    [m] = ch.sent
    assert m["text"] == (
        "亲,非常抱歉让您久等了!之前答应在2026-11-20 14:00前给您的答复还在处理中,"
        "我们正在加紧处理,有结果会第一时间告诉您~"
    )
    await s.tick()
    assert alerts == ["promise.overdue"] and len(ch.sent) == 1  # flagged once


@pytest.mark.asyncio
async def test_promise_closed_in_the_shop_is_kept(make, shop, clock):
    rec = await shop.promise_follow_up(buyer_id="buyer_001", topic="courier_follow_up", due_at=T0 + timedelta(hours=24))
    s = await make()
    await s.scan()
    await shop.close_record(rec.record_id, note="done at the warehouse")
    counts = await s.scan()
    assert counts["kept_elsewhere"] == 1 and await s.promises() == []


@pytest.mark.asyncio
async def test_agent_holding_the_conversation_is_not_talked_over(make, shop, clock):
    await new_order(shop, clock, "DD20261117007", status=D, at=T0)
    ch = FakeChannel()
    ch.online.add("buyer_001")
    ch.busy.add("buyer_001")
    s = await make(ch)
    await s.scan()
    clock.advance(days=2)
    assert (await s.tick())["deferred"] == 1
    ch.busy.clear()
    clock.advance(minutes=15)
    assert (await s.tick())["sent"] == 1


@pytest.mark.asyncio
async def test_first_start_over_old_orders_sends_no_stale_follow_ups(make, shop, clock):
    await new_order(shop, clock, "DD20261001001", status=D, at=T0 - timedelta(days=30))
    await new_order(shop, clock, "DD20261117008", status=D, at=T0 - timedelta(days=1))
    s = await make()
    counts = await s.scan()
    assert counts["delivery_check"] == 1
    assert [j["order_id"] for j in await s.jobs()] == ["DD20261117008"]


@pytest.mark.asyncio
async def test_a_message_nobody_came_back_for_expires(make, shop, clock):
    await new_order(shop, clock, "DD20261117009", status=D, at=T0)
    ch = FakeChannel()
    s = await make(ch)
    await s.scan()
    clock.advance(days=2)
    await s.tick()
    clock.advance(hours=168, minutes=1)  # a week after it was due
    assert (await s.tick())["expired"] == 1
    ch.online.add("buyer_001")
    await s.tick()
    assert ch.sent == []
