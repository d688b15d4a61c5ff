"""action_answer_followup: the Rasa side of a 回访 (external event, answers, opt-out)."""

from __future__ import annotations

import pytest
from followup_helpers import T0, new_order
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions import records
from actions.followups import ActionAnswerFollowup
from followup import open_followup_db
from followup.db import optouts
from shop.models import RecordKind
from shop.status import OrderStatus
from tests.actions.conftest import assert_rendered


def user(text, intent, buyer="buyer_001"):
    parse = {
        "text": text,
        "intent": {"name": intent, "confidence": 0.9},
        "entities": [],
        "metadata": {"buyer_id": buyer},
    }
    return {"event": "user", "text": text, "parse_data": parse, "metadata": {"buyer_id": buyer}}


def tracker(text, intent, slots=None, entities=None, buyer="buyer_001", before=()):
    """`before`: the user events ahead of this message (by default the 回访's external event)."""
    latest = {
        "text": text,
        "intent": {"name": intent, "confidence": 0.9},
        "entities": entities or [],
        "metadata": {"buyer_id": buyer},
    }
    earlier = list(before) or [user("", "EXTERNAL_followup_delivery_check", buyer)]
    return Tracker(
        "conv-1",
        dict(slots or {}),
        latest,
        earlier + [{"event": "user", "text": text, "parse_data": latest, "metadata": {"buyer_id": buyer}}],
        False,
        None,
        {},
        "action_listen",
    )


async def run(t):
    d = CollectingDispatcher()
    events = await ActionAnswerFollowup().run(d, t, {})
    await assert_rendered(d, t)
    return d.messages, events


@pytest.fixture
def backend(shop):
    records.set_backend(shop)
    yield shop
    records.set_backend(None)


@pytest.mark.asyncio
async def test_external_event_notes_the_follow_up_and_says_nothing(backend):
    msgs, events = await run(tracker("", "EXTERNAL_followup_delivery_check", {"order_id": "DD20261117031"}))
    assert msgs == [] and events == [
        {"event": "slot", "timestamp": None, "name": "followup_asked", "value": "delivery_check"},
        {"event": "slot", "timestamp": None, "name": "delivery_check_open", "value": True},
    ]


@pytest.mark.asyncio
async def test_an_unpaid_reminder_opens_no_delivery_check(backend):
    # a 好的 after 催付 is no 回访 answer (the rules read delivery_check_open only)
    msgs, events = await run(tracker("", "EXTERNAL_followup_unpaid", {"order_id": "DD20261117031"}))
    assert msgs == [] and [(e["name"], e["value"]) for e in events] == [
        ("followup_asked", "unpaid"),
        ("delivery_check_open", False),
    ]


@pytest.mark.asyncio
async def test_praise_after_the_follow_up_invites_the_review(backend):
    msgs, events = await run(
        tracker("收到了,很满意", "praise", {"order_id": "DD20261117031", "followup_asked": "delivery_check"})
    )
    assert [m["response"] for m in msgs] == ["utter_followup_satisfied"]
    assert [(e["name"], e["value"]) for e in events] == [("followup_asked", None), ("delivery_check_open", False)]


@pytest.mark.asyncio
async def test_not_received_opens_the_investigation_for_the_followed_up_order(backend, clock):
    await new_order(backend, clock, "DD20261117031", status=OrderStatus.DELIVERED, at=T0)
    msgs, _ = await run(
        tracker(
            "显示签收了但我没收到", "query_order", {"order_id": "DD20261117031", "followup_asked": "delivery_check"}
        )
    )
    [m] = msgs
    assert m["response"] == "utter_investigation_opened_check_family" and m["order_id"] == "DD20261117031"
    assert len(await backend.records_for("buyer_001", kind=RecordKind.COURIER_INVESTIGATION)) == 1


@pytest.mark.asyncio
async def test_another_order_named_goes_to_the_order_lookup(backend):
    msgs, events = await run(
        tracker(
            "DD20261101009 到哪了", "query_order", {"order_id": "DD20261117031", "followup_asked": "delivery_check"}
        )
    )
    assert msgs == [] and events[-1] == {"event": "followup", "timestamp": None, "name": "action_look_up_order"}


@pytest.mark.asyncio
async def test_stop_followups_is_stored_where_the_scheduler_reads_it(backend, tmp_path, monkeypatch):
    url = f"sqlite+aiosqlite:///{tmp_path / 'fu.db'}"
    monkeypatch.setenv("XIAOER_FOLLOWUP_DB_URL", url)
    msgs, _ = await run(tracker("以后别给我推消息了", "stop_followups"))
    assert [m["response"] for m in msgs] == ["utter_followup_opted_out"]
    engine = await open_followup_db(url)
    async with engine.connect() as conn:
        rows = (await conn.execute(optouts.select())).all()
    await engine.dispose()
    assert [r.buyer_id for r in rows] == ["buyer_001"]


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "text, intent, ordinary",
    [
        ("你们客服真不错", "praise", "action_acknowledge_praise"),
        ("我要投诉你们的快递", "complain", "action_start_handoff"),
    ],
)
async def test_a_shopper_who_changed_topic_gets_the_ordinary_answer_later(backend, text, intent, ordinary):
    # 回访 sent, the shopper asked about something else, and only then praised or complained
    before = [user("", "EXTERNAL_followup_delivery_check"), user("包邮吗", "ask_shipping_fee")]
    msgs, events = await run(
        tracker(text, intent, {"order_id": "DD20261117031", "followup_asked": "delivery_check"}, before=before)
    )
    assert msgs == []
    assert events == [
        {"event": "slot", "timestamp": None, "name": "followup_asked", "value": None},
        {"event": "slot", "timestamp": None, "name": "delivery_check_open", "value": False},
        {"event": "followup", "timestamp": None, "name": ordinary},
    ]
