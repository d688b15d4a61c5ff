"""Order actions (O1-O7) against a temporary shop: which reply, with which
values, which slots, and what the backend recorded. Only the logged-in buyer
(metadata.buyer_id) reaches an order; another buyer's order reads exactly
like an unknown number."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest
from rasa_sdk.events import SlotSet

from actions import turn as turn_module
from actions.address import parse_address
from actions.aftersales import ActionReportQualityIssue, ActionRequestReturn
from actions.confirm import ActionConfirmOrderStep
from actions.orders import ActionCancelOrder, ActionChangeOrder, ActionLookUpOrder
from shop.errors import BackendUnavailable
from shop.models import (
    AddressInput,
    BuyerInput,
    Coupon,
    FaqEntry,
    Gender,
    Product,
    Promotion,
    RecordKind,
    Sku,
    TrackingEvent,
    yuan,
)
from shop.status import OrderStatus as S
from tests.actions.conftest import make_tracker, run_action

NOW = datetime.now(timezone.utc)
ALICE = "buyer_001"
BOB = "buyer_002"

# Alice's orders, one per situation; Bob's are what Alice must never see.
UNPAID = "DD20241118001"
PAID = "DD20241117001"
OVERDUE = "DD20241116001"
IN_TRANSIT = "DD20241115001"
STALLED = "DD20241114001"
SIGNED_FAMILY = "DD20241113001"
OLD_COMPLETED = "DD20241112001"
REFUNDING = "DD20241111001"
BOB_PAID = "DD20241117002"
BOB_DELIVERED = "9876543210987654"
UNKNOWN = "DD20991231999"


def catalogue():
    promo = Promotion("秋季焕新季", NOW - timedelta(days=3), NOW + timedelta(days=2), Coupon(yuan(49), yuan(5)))
    cable = Product(
        product_id="P100",
        name="星耀编织数据线",
        category="数据线",
        price=yuan("29.9"),
        free_shipping=True,
        weight_g=60,
        promotion=promo,
        specs={"接口": "USB-C转Lightning", "材质": "尼龙编织"},
        faq=(FaqEntry("支持快充吗?", "支持PD 20W快充。"),),
        description="尼龙编织线身,耐弯折。",
        skus=(
            Sku("P100-01", "P100", "白色", "1米", yuan("29.9"), 100, promo_price=yuan("24.9")),
            Sku(
                "P100-02",
                "P100",
                "黑色",
                "1米",
                yuan("29.9"),
                0,
                promo_price=yuan("24.9"),
                restock_date=(NOW + timedelta(days=5)).date(),
            ),
            Sku("P100-03", "P100", "白色", "2米", yuan("35.9"), 50, promo_price=yuan("30.9")),
            Sku("P100-04", "P100", "蓝色", "1米", yuan("29.9"), 5, promo_price=yuan("24.9")),
        ),
    )
    charger = Product(
        product_id="P300",
        name="星耀65W氮化镓充电器",
        category="充电器",
        price=yuan(99),
        free_shipping=True,
        weight_g=150,
        specs={"功率": "65W"},
        skus=(Sku("P300-01", "P300", "白色", "65W", yuan(99), 10),),
    )
    case = Product(
        product_id="P400",
        name="星耀磁吸手机壳",
        category="手机壳",
        price=yuan(39),
        free_shipping=False,
        weight_g=1500,
        skus=(Sku("P400-01", "P400", "黑色", "iPhone 15", yuan(39), 0),),
    )
    case2 = Product(
        product_id="P401",
        name="星耀透明手机壳",
        category="手机壳",
        price=yuan(29),
        free_shipping=True,
        weight_g=50,
        skus=(Sku("P401-01", "P401", "透明", "iPhone 15", yuan(29), 20),),
    )
    return [cable, charger, case, case2]


BUYERS = [
    BuyerInput(
        ALICE,
        "张伟",
        Gender.MALE,
        "13812345678",
        (AddressInput("张伟", "13812345678", "浙江省", "杭州市", "西湖区", "文三路90号3幢501室"),),
    ),
    BuyerInput(
        BOB,
        "李娜",
        Gender.FEMALE,
        "13998765432",
        (AddressInput("李娜", "13998765432", "广东省", "深圳市", "南山区", "科技园南路18号"),),
    ),
]


async def make_order(
    shop, oid, buyer, status, *, hours_ago, sku="P100-01", last_event_hours_ago=None, signed_by="本人"
):
    """An order walked to `status`, the steps spread over the hours before now."""
    t = NOW - timedelta(hours=hours_ago)
    await shop.create_order(order_id=oid, buyer_id=buyer, items=[(sku, 1)], at=t)
    path = {
        S.UNPAID: [],
        S.PAID: [S.PAID],
        S.IN_TRANSIT: [S.PAID, S.SHIPPED, S.IN_TRANSIT],
        S.DELIVERED: [S.PAID, S.SHIPPED, S.IN_TRANSIT, S.DELIVERED],
        S.COMPLETED: [S.PAID, S.SHIPPED, S.DELIVERED, S.COMPLETED],
        S.REFUND_REQUESTED: [S.PAID, S.REFUND_REQUESTED],
    }[status]
    step = timedelta(minutes=10)
    for st in path:
        t += step
        details = {}
        if st == S.SHIPPED:
            details = {"courier": "中通快递", "tracking_no": "753" + oid[-11:]}
            await shop.add_tracking(oid, TrackingEvent(t, "杭州市", "杭州转运中心", "【杭州市】已揽收", "collected"))
        if st == S.IN_TRANSIT:
            last = NOW - timedelta(hours=last_event_hours_ago) if last_event_hours_ago else t
            t = max(t, last)
            await shop.add_tracking(
                oid, TrackingEvent(t, "嘉兴市", "嘉兴转运中心", "【嘉兴市】已到达嘉兴转运中心", "arrived")
            )
        if st == S.DELIVERED:
            details = {"signed_by": signed_by}
            await shop.add_tracking(
                oid, TrackingEvent(t, "杭州市", "西湖区营业部", f"【杭州市】已签收,签收人:{signed_by}", "signed")
            )
        await shop.advance(oid, st, at=t, **details)


async def seed_shop(shop):
    await shop.put_products(catalogue())
    for b in BUYERS:
        await shop.put_buyer(b)
    await make_order(shop, UNPAID, ALICE, S.UNPAID, hours_ago=3)
    await make_order(shop, PAID, ALICE, S.PAID, hours_ago=2)
    await make_order(shop, OVERDUE, ALICE, S.PAID, hours_ago=60)
    await make_order(shop, IN_TRANSIT, ALICE, S.IN_TRANSIT, hours_ago=20, last_event_hours_ago=2)
    await make_order(shop, STALLED, ALICE, S.IN_TRANSIT, hours_ago=100, last_event_hours_ago=70)
    await make_order(shop, SIGNED_FAMILY, ALICE, S.DELIVERED, hours_ago=48, signed_by="家人")
    await make_order(shop, OLD_COMPLETED, ALICE, S.COMPLETED, hours_ago=24 * 30)
    await make_order(shop, REFUNDING, ALICE, S.REFUND_REQUESTED, hours_ago=30)
    await make_order(shop, BOB_PAID, BOB, S.PAID, hours_ago=5)
    await make_order(shop, BOB_DELIVERED, BOB, S.DELIVERED, hours_ago=30, signed_by="本人")
    return shop


@pytest.fixture()
async def shop(shop_backend):
    return await seed_shop(shop_backend)


def as_alice(text, intent="query_order", entities=None, slots=None, buyer=ALICE, asked_now=True):
    """The buyer's message; an open question in `slots` was asked in the bot's last turn unless `asked_now=False`."""
    events = []
    if slots and slots.get("awaiting_order_answer") and asked_now:
        events = [
            {"event": "user", "text": "...", "parse_data": {"intent": {"name": "cancel_order"}}},
            {"event": "action", "name": "action_cancel_order"},
        ]
        events += [{"event": "slot", "name": k, "value": v} for k, v in slots.items()]
        events += [{"event": "bot", "text": "..."}, {"event": "action", "name": "action_listen"}]
    return make_tracker(
        text, intent, entities=entities, slots=slots, events=events, metadata={"buyer_id": buyer} if buyer else {}
    )


def said(dispatcher):
    return [m.get("response") for m in dispatcher.messages]


def values_of(dispatcher, response):
    return next(m for m in dispatcher.messages if m.get("response") == response)


def slot(events, name):
    found = [e["value"] for e in events if e.get("event") == "slot" and e.get("name") == name]
    return found[-1] if found else None


async def records(shop, kind, buyer=ALICE):
    return await shop.records_for(buyer, kind=kind)


# ---- O1 lookups -------------------------------------------------------------------------


async def test_lookup_in_transit_gives_courier_tracking_latest_event_and_next_step(shop):
    d, events = await run_action(ActionLookUpOrder(), as_alice(f"帮我查下订单 {IN_TRANSIT.lower()}"))
    assert said(d) == ["utter_order_status_in_transit"]
    m = values_of(d, "utter_order_status_in_transit")
    assert m["order_id"] == IN_TRANSIT and m["courier"] == "中通快递" and m["tracking_no"].startswith("753")
    assert m["event_text"] == "【杭州市】已到达嘉兴转运中心".replace("杭州市", "嘉兴市")
    assert m["transit"] == "1-2"  # Hangzhou address: 江浙沪
    assert SlotSet("order_id", IN_TRANSIT) in events


async def test_shipped_without_tracking_yet(shop):
    oid = "DD20241119009"
    await shop.create_order(order_id=oid, buyer_id=ALICE, items=[("P100-01", 1)], at=NOW - timedelta(hours=3))
    await shop.advance(oid, S.PAID, at=NOW - timedelta(hours=2))
    await shop.advance(oid, S.SHIPPED, at=NOW - timedelta(hours=1), courier="圆通速递", tracking_no="YT123456789")
    d, _ = await run_action(ActionLookUpOrder(), as_alice(f"查订单 {oid}"))
    assert said(d) == ["utter_order_status_awaiting_pickup"]
    m = values_of(d, "utter_order_status_awaiting_pickup")
    assert (m["courier"], m["tracking_no"]) == ("圆通速递", "YT123456789")
    assert m["transit"] == "1-2"


async def test_lookup_reads_order_number_inside_a_long_sentence(shop):
    text = f"你好,我妈用我账号买的东西,订单号是{UNPAID},她一直问我到哪了,我也看不懂,能帮忙查一下吗谢谢"
    d, _ = await run_action(ActionLookUpOrder(), as_alice(text))
    assert said(d) == ["utter_order_status_unpaid"]
    assert values_of(d, "utter_order_status_unpaid")["total"] == "24.9"


async def test_my_orders_without_number_lists_recent_orders_as_text_buttons(shop):
    d, _ = await run_action(ActionLookUpOrder(), as_alice("我的订单"))
    assert said(d) == ["utter_recent_orders"]
    buttons = d.messages[0]["buttons"]
    assert 1 <= len(buttons) <= 5
    for b in buttons:
        # the button posts only the order number printed on it
        assert b["payload"] == b["title"].split()[0]
    shown = " ".join(b["payload"] for b in buttons)
    assert BOB_PAID not in shown and BOB_DELIVERED not in shown


async def test_where_is_my_order_lists_no_cancelled_or_closed_orders(shop):
    for i, st in enumerate((S.CANCELLED, S.CLOSED)):
        oid = f"DD2024112000{i}"
        await shop.create_order(order_id=oid, buyer_id=ALICE, items=[("P100-01", 1)], at=NOW - timedelta(minutes=5))
        await shop.advance(oid, st, at=NOW - timedelta(minutes=1))
    d, _ = await run_action(ActionLookUpOrder(), as_alice("我的订单到哪了"))
    assert said(d) == ["utter_recent_orders"]
    titles = " ".join(b["title"] for b in d.messages[0]["buttons"])
    assert "DD20241120000" not in titles and "DD20241120001" not in titles and "已取消" not in titles
    # typed, a cancelled order is still looked up
    d, _ = await run_action(ActionLookUpOrder(), as_alice("查订单 DD20241120000"))
    assert said(d) == ["utter_order_status_cancelled"]


async def test_no_login_explains_how_to_log_in_and_shows_nothing(shop):
    d, _ = await run_action(ActionLookUpOrder(), as_alice(f"查订单 {PAID}", buyer=None))
    assert said(d) == ["utter_login_required"]
    d, _ = await run_action(ActionLookUpOrder(), as_alice("我的订单", buyer=None))
    assert said(d) == ["utter_query_order", "utter_login_required"]


async def test_buyer_id_in_a_slot_or_entity_is_ignored(shop):
    tracker = make_tracker(
        f"查订单 {PAID}", "query_order", slots={"buyer_id": ALICE}, entities=[{"entity": "buyer_id", "value": ALICE}]
    )
    d, _ = await run_action(ActionLookUpOrder(), tracker)
    assert said(d) == ["utter_login_required"]


@pytest.mark.parametrize("text", ["帮朋友查一下订单", "我换了新账号,之前的订单查一下", "帮朋友查 " + BOB_PAID])
async def test_other_accounts_are_refused_with_the_seed_wording(shop, text):
    d, _ = await run_action(ActionLookUpOrder(), as_alice(text))
    assert said(d) == ["utter_order_not_yours"]
    assert set(d.messages[0]) <= {
        "response",
        "text",
        "buttons",
        "elements",
        "custom",
        "template",
        "image",
        "attachment",
    }


async def test_unknown_malformed_and_sql_looking_numbers(shop):
    d, _ = await run_action(ActionLookUpOrder(), as_alice(f"查订单 {UNKNOWN}"))
    assert said(d) == ["utter_order_not_found"] and values_of(d, "utter_order_not_found")["order_id"] == UNKNOWN
    d, _ = await run_action(ActionLookUpOrder(), as_alice("查订单 DD2024111"))
    assert said(d) == ["utter_order_id_invalid"] and values_of(d, "utter_order_id_invalid")["typed"] == "DD2024111"
    d, _ = await run_action(ActionLookUpOrder(), as_alice(f"查订单 {PAID}' OR '1'='1"))
    # the number is read, the rest is text: never a query with the SQL in it
    assert said(d) == ["utter_order_status_paid"]
    d, _ = await run_action(ActionLookUpOrder(), as_alice("'; DROP TABLE shop_orders; --"))
    assert said(d) == ["utter_recent_orders"]
    assert len(await shop.recent_orders(ALICE, limit=50)) == 8


async def test_two_order_numbers_ask_which_one(shop):
    d, events = await run_action(ActionLookUpOrder(), as_alice(f"{PAID}和{UNPAID}这两个单发了吗"))
    assert said(d) == ["utter_which_order"]
    assert [b["payload"] for b in d.messages[0]["buttons"]] == [PAID, UNPAID]
    assert slot(events, "order_purpose") == "query"
    assert slot(events, "order_id") is None


async def test_phone_and_address_are_masked(shop):
    order = await shop.get_order(PAID, buyer_id=ALICE)
    assert "13812345678" not in repr(order) and "文三路" not in repr(order)


# ---- O3, O4, O5 ------------------------------------------------------------------------------


async def test_urging_a_paid_order_records_the_urge(shop):
    d, _ = await run_action(ActionLookUpOrder(), as_alice(f"{PAID}怎么还不发货,催一下"))
    assert said(d) == ["utter_order_urge_recorded"]
    urges = await records(shop, RecordKind.URGE)
    assert [r.order_id for r in urges] == [PAID]


async def test_overdue_shipment_apologises_records_urge_and_promise(shop):
    d, _ = await run_action(ActionLookUpOrder(), as_alice(f"查订单 {OVERDUE}"))
    assert said(d) == ["utter_order_ship_overdue"]
    assert values_of(d, "utter_order_ship_overdue")["follow_up_time"]
    assert [r.order_id for r in await records(shop, RecordKind.URGE)] == [OVERDUE]
    promises = await records(shop, RecordKind.FOLLOW_UP)
    assert sorted(p.text for p in promises) == ["compensation_coupon", "ship_overdue"]
    assert all(p.due_at > NOW and p.order_id == OVERDUE for p in promises)


async def test_stalled_parcel_gives_last_station_follow_up_and_promise(shop):
    d, _ = await run_action(ActionLookUpOrder(), as_alice(f"{STALLED}物流三天没动了"))
    assert said(d) == ["utter_order_stalled"]
    m = values_of(d, "utter_order_stalled")
    assert m["station"] == "嘉兴转运中心" and m["tracking_no"]
    assert [r.order_id for r in await records(shop, RecordKind.COURIER_FOLLOW_UP)] == [STALLED]
    promise = (await records(shop, RecordKind.FOLLOW_UP))[0]
    assert promise.order_id == STALLED and promise.due_at > NOW


async def test_signed_not_received_asks_about_family_then_investigates(shop):
    d, events = await run_action(ActionLookUpOrder(), as_alice(f"{SIGNED_FAMILY}显示签收了但我没收到"))
    assert said(d) == ["utter_ask_who_signed"]
    assert values_of(d, "utter_ask_who_signed")["signed_by"] == "家人"
    assert slot(events, "awaiting_order_answer") is True and slot(events, "pending_step") == "investigate"
    assert await records(shop, RecordKind.COURIER_INVESTIGATION) == []
    answer = as_alice(
        "不是",
        "deny",
        slots={"awaiting_order_answer": True, "pending_step": "investigate", "pending_order": SIGNED_FAMILY},
    )
    d, events = await run_action(ActionConfirmOrderStep(), answer)
    assert said(d) == ["utter_investigation_opened"]
    assert slot(events, "awaiting_order_answer") is False
    inv = await records(shop, RecordKind.COURIER_INVESTIGATION)
    assert [r.order_id for r in inv] == [SIGNED_FAMILY] and inv[0].data["signed_by"] == "家人"


# ---- O6 changes -------------------------------------------------------------------------------


async def test_change_phone_before_shipment_only_after_yes(shop):
    d, events = await run_action(ActionChangeOrder(), as_alice(f"{PAID}的收货电话改成13900001111", "change_order"))
    assert said(d) == ["utter_confirm_change_phone"]
    assert values_of(d, "utter_confirm_change_phone")["new_value"] == "139****1111"
    assert await records(shop, RecordKind.PHONE_CHANGE) == []
    slots = {
        "awaiting_order_answer": True,
        "pending_step": slot(events, "pending_step"),
        "pending_order": slot(events, "pending_order"),
        "pending_value": slot(events, "pending_value"),
    }
    d, events = await run_action(ActionConfirmOrderStep(), as_alice("好的", "affirm", slots=slots))
    assert said(d) == ["utter_order_changed"]
    assert values_of(d, "utter_order_changed")["new_value"] == "139****1111"
    assert [r.order_id for r in await records(shop, RecordKind.PHONE_CHANGE)] == [PAID]
    assert (await shop.get_order(PAID, buyer_id=ALICE)).ship_to.phone == "139****1111"


async def test_change_declined_changes_nothing(shop):
    slots = {
        "awaiting_order_answer": True,
        "pending_step": "change_phone",
        "pending_order": PAID,
        "pending_value": "13900001111",
    }
    d, events = await run_action(ActionConfirmOrderStep(), as_alice("算了", "deny", slots=slots))
    assert said(d) == ["utter_step_dropped"] and slot(events, "awaiting_order_answer") is False
    assert await records(shop, RecordKind.PHONE_CHANGE) == []


async def test_change_address_asks_for_it_then_confirms_masked(shop):
    d, events = await run_action(ActionChangeOrder(), as_alice(f"{UNPAID}我要改地址", "change_order"))
    assert said(d) == ["utter_ask_new_address"] and slot(events, "pending_step") == "ask_address"
    slots = {"awaiting_order_answer": True, "pending_step": "ask_address", "pending_order": UNPAID}
    d, events = await run_action(
        ActionConfirmOrderStep(), as_alice("王芳 13700002222 江苏省苏州市姑苏区人民路100号", "inform", slots=slots)
    )
    assert said(d) == ["utter_confirm_change_address"]
    shown = values_of(d, "utter_confirm_change_address")["new_value"]
    assert "137****2222" in shown and "人民路" not in shown
    slots = {
        "awaiting_order_answer": True,
        "pending_step": slot(events, "pending_step"),
        "pending_order": UNPAID,
        "pending_value": slot(events, "pending_value"),
    }
    d, _ = await run_action(ActionConfirmOrderStep(), as_alice("对的", "affirm", slots=slots))
    assert said(d) == ["utter_order_changed"]
    order = await shop.get_order(UNPAID, buyer_id=ALICE)
    assert order.ship_to.city == "苏州市" and order.ship_to.phone == "137****2222"


def test_address_parser():
    a = parse_address("新地址:王芳,13700002222,上海市浦东新区世纪大道100号")
    assert (a.recipient, a.phone, a.province, a.city, a.district) == (
        "王芳",
        "13700002222",
        "上海市",
        "上海市",
        "浦东新区",
    )
    assert parse_address("改到杭州") is None


async def test_change_spec_to_an_in_stock_variant_of_the_same_price(shop):
    ents = [{"entity": "color", "value": "蓝色"}]
    d, events = await run_action(
        ActionChangeOrder(), as_alice(f"{PAID}拍错颜色了,帮我改成蓝色", "change_order", entities=ents)
    )
    assert said(d) == ["utter_confirm_change_spec"]
    m = values_of(d, "utter_confirm_change_spec")
    assert (m["old_value"], m["new_value"]) == ("白色 / 1米", "蓝色 / 1米")
    slots = {
        "awaiting_order_answer": True,
        "pending_step": "change_spec",
        "pending_order": PAID,
        "pending_value": slot(events, "pending_value"),
    }
    d, _ = await run_action(ActionConfirmOrderStep(), as_alice("好", "affirm", slots=slots))
    assert said(d) == ["utter_order_changed"]
    assert (await shop.get_order(PAID, buyer_id=ALICE)).items[0].spec == "蓝色 / 1米"


async def test_change_spec_sold_out_or_other_price(shop):
    d, _ = await run_action(
        ActionChangeOrder(),
        as_alice(f"{PAID}改成黑色", "change_order", entities=[{"entity": "color", "value": "黑色"}]),
    )
    assert said(d) == ["utter_change_spec_sold_out"]
    d, _ = await run_action(
        ActionChangeOrder(), as_alice(f"{PAID}改成2米的", "change_order", entities=[{"entity": "size", "value": "2米"}])
    )
    assert said(d) == ["utter_change_spec_price_differs"]


async def test_change_after_shipment_offers_interception(shop):
    d, events = await run_action(ActionChangeOrder(), as_alice(f"{IN_TRANSIT}地址写错了要改一下", "change_order"))
    assert said(d) == ["utter_change_after_shipment"]
    assert slot(events, "pending_step") == "intercept"
    slots = {"awaiting_order_answer": True, "pending_step": "intercept", "pending_order": IN_TRANSIT}
    d, _ = await run_action(ActionConfirmOrderStep(), as_alice("可以", "affirm", slots=slots))
    assert said(d) == ["utter_interception_requested"]
    assert [r.order_id for r in await records(shop, RecordKind.INTERCEPTION)] == [IN_TRANSIT]


# ---- O7 cancel -----------------------------------------------------------------------------------


async def test_cancel_unpaid_only_after_yes(shop):
    d, events = await run_action(ActionCancelOrder(), as_alice(f"{UNPAID}不要了,取消吧", "cancel_order"))
    assert said(d) == ["utter_confirm_cancel_unpaid"]
    assert (await shop.get_order(UNPAID, buyer_id=ALICE)).status == S.UNPAID
    slots = {"awaiting_order_answer": True, "pending_step": "cancel", "pending_order": UNPAID}
    d, _ = await run_action(ActionConfirmOrderStep(), as_alice("是的", "affirm", slots=slots))
    assert said(d) == ["utter_order_cancelled"]
    assert (await shop.get_order(UNPAID, buyer_id=ALICE)).status == S.CANCELLED


async def test_cancel_paid_becomes_a_refund_request(shop):
    d, _ = await run_action(ActionCancelOrder(), as_alice(f"{PAID}取消", "cancel_order"))
    assert said(d) == ["utter_confirm_cancel_paid"] and values_of(d, "utter_confirm_cancel_paid")["total"] == "24.9"
    slots = {"awaiting_order_answer": True, "pending_step": "cancel", "pending_order": PAID}
    d, _ = await run_action(ActionConfirmOrderStep(), as_alice("好的", "affirm", slots=slots))
    assert said(d) == ["utter_cancel_refund_requested"]
    assert (await shop.get_order(PAID, buyer_id=ALICE)).status == S.REFUND_REQUESTED


async def test_cancel_shipped_offers_interception_and_changes_nothing(shop):
    d, events = await run_action(ActionCancelOrder(), as_alice(f"{IN_TRANSIT}我不要了", "cancel_order"))
    assert said(d) == ["utter_cancel_shipped"] and slot(events, "pending_step") == "intercept"
    assert (await shop.get_order(IN_TRANSIT, buyer_id=ALICE)).status == S.IN_TRANSIT


@pytest.mark.parametrize(
    "action, intent, text, step, order_id, response",
    [
        (ActionCancelOrder, "cancel_order", "确定取消", "cancel", UNPAID, "utter_order_cancelled"),
        (ActionCancelOrder, "cancel_order", "帮我拦截", "intercept", IN_TRANSIT, "utter_interception_requested"),
        (ActionChangeOrder, "change_order", "可以,帮我改吧", "intercept", IN_TRANSIT, "utter_interception_requested"),
    ],
)
async def test_yes_in_the_words_of_the_topic(shop, action, intent, text, step, order_id, response):
    slots = {"awaiting_order_answer": True, "pending_step": step, "pending_order": order_id}
    d, events = await run_action(action(), as_alice(text, intent, slots=slots))
    assert said(d) == [response] and slot(events, "awaiting_order_answer") is False


async def test_topic_words_long_after_the_question_start_afresh(shop):
    slots = {"awaiting_order_answer": True, "pending_step": "cancel", "pending_order": UNPAID}
    d, _ = await run_action(ActionCancelOrder(), as_alice("确定取消", "cancel_order", slots=slots, asked_now=False))
    assert said(d) == ["utter_recent_orders"]
    assert (await shop.get_order(UNPAID, buyer_id=ALICE)).status == S.UNPAID


async def test_deny_keeps_the_order(shop):
    slots = {"awaiting_order_answer": True, "pending_step": "cancel", "pending_order": UNPAID}
    d, _ = await run_action(ActionConfirmOrderStep(), as_alice("不用了", "deny", slots=slots))
    assert said(d) == ["utter_step_dropped"]
    assert (await shop.get_order(UNPAID, buyer_id=ALICE)).status == S.UNPAID


async def test_yes_without_an_open_question_changes_nothing(shop):
    d, _ = await run_action(ActionConfirmOrderStep(), as_alice("好的", "affirm"))
    assert said(d) == ["utter_ok_anything_else"]


async def test_a_late_yes_after_other_topics_changes_nothing(shop):
    slots = {"awaiting_order_answer": True, "pending_step": "cancel", "pending_order": UNPAID}
    d, events = await run_action(ActionConfirmOrderStep(), as_alice("好的", "affirm", slots=slots, asked_now=False))
    assert said(d) == ["utter_ok_anything_else"] and slot(events, "awaiting_order_answer") is False
    assert (await shop.get_order(UNPAID, buyer_id=ALICE)).status == S.UNPAID


async def test_delivery_wish_is_noted_on_the_order_without_a_guarantee(shop):
    d, _ = await run_action(
        ActionChangeOrder(), as_alice(f"{PAID} 帮我备注一下周末送,送货前打13900001111", "change_order")
    )
    assert said(d) == ["utter_order_note_added"]
    note = values_of(d, "utter_order_note_added")["note"]
    assert note == "周末送,送货前打139****1111"
    rec = (await records(shop, RecordKind.ORDER_NOTE))[0]
    assert rec.order_id == PAID and rec.data["note_kind"] == "delivery_time"


async def test_pending_order_of_another_buyer_is_not_found(shop):
    # a confirmation never acts on an order the asking account does not own
    slots = {"awaiting_order_answer": True, "pending_step": "cancel", "pending_order": BOB_PAID}
    d, _ = await run_action(ActionConfirmOrderStep(), as_alice("好的", "affirm", slots=slots))
    assert said(d) == ["utter_order_not_found"]
    assert (await shop.get_order(BOB_PAID, buyer_id=BOB)).status == S.PAID


# ---- nothing of another buyer ------------------------------------------------------------------


ORDER_ACTIONS = [
    (ActionLookUpOrder, "query_order", "查订单 {}"),
    (ActionChangeOrder, "change_order", "{} 收货电话改成13900001111"),
    (ActionCancelOrder, "cancel_order", "{} 取消订单"),
    (ActionRequestReturn, "return_refund", "{} 我要退货"),
    (ActionReportQualityIssue, "report_quality_issue", "{} 充电器收到就坏了"),
]


@pytest.mark.parametrize("action, intent, template", ORDER_ACTIONS, ids=[a[0].__name__ for a in ORDER_ACTIONS])
@pytest.mark.parametrize("foreign", [BOB_PAID, BOB_DELIVERED])
async def test_another_buyers_order_reads_exactly_like_an_unknown_one(shop, action, intent, template, foreign):
    before = await shop.get_order(foreign, buyer_id=BOB)
    d_foreign, ev_foreign = await run_action(action(), as_alice(template.format(foreign), intent))
    d_unknown, ev_unknown = await run_action(action(), as_alice(template.format(UNKNOWN), intent))

    def scrub(messages, number):
        return [{k: (v.replace(number, "#") if isinstance(v, str) else v) for k, v in m.items()} for m in messages]

    assert scrub(d_foreign.messages, foreign) == scrub(d_unknown.messages, UNKNOWN)
    assert [m["response"] for m in d_foreign.messages] == ["utter_order_not_found"]
    shown = repr(d_foreign.messages) + repr(ev_foreign)
    for secret in (
        before.tracking_no,
        before.ship_to.text,
        before.ship_to.phone,
        before.item_summary,
        before.status.label_zh,
        "李",
        "深圳",
        "13998765432",
        "139****5432",
    ):
        if secret:
            assert secret not in shown
    assert await shop.get_order(foreign, buyer_id=BOB) == before
    assert await shop.records_for(BOB) == []
    assert {"event": "slot", "timestamp": None, "name": "order_id", "value": None} in ev_foreign


# ---- G5 and failures ------------------------------------------------------------------------------


class SlowShop:
    """Answers like the real shop, after `delay` seconds."""

    def __init__(self, inner, delay):
        self.inner, self.delay = inner, delay

    def __getattr__(self, name):
        target = getattr(self.inner, name)

        async def slow(*args, **kwargs):
            await asyncio.sleep(self.delay)
            return await target(*args, **kwargs)

        return slow


class DownShop:
    def __getattr__(self, name):
        async def down(*args, **kwargs):
            raise BackendUnavailable("database down")

        return down


@pytest.fixture()
def fast_timeouts(monkeypatch):
    monkeypatch.setattr(turn_module, "WAIT_NOTICE_AFTER", 0.05)
    monkeypatch.setattr(turn_module, "OVERALL_TIMEOUT", 5.0)


async def test_slow_lookup_says_please_wait_first_then_thanks(shop, fast_timeouts):
    from actions import records

    records.set_backend(SlowShop(shop, 0.2))
    d, _ = await run_action(ActionLookUpOrder(), as_alice(f"查订单 {PAID}"))
    assert said(d) == ["utter_please_wait", "utter_thanks_for_waiting", "utter_order_status_paid"]


async def test_too_slow_backend_apologises_and_offers_a_person(shop, fast_timeouts, monkeypatch):
    from actions import records

    monkeypatch.setattr(turn_module, "OVERALL_TIMEOUT", 0.3)
    records.set_backend(SlowShop(shop, 2))
    d, _ = await run_action(ActionLookUpOrder(), as_alice(f"查订单 {PAID}"))
    assert said(d) == ["utter_please_wait", "utter_backend_unavailable"]


@pytest.mark.parametrize("action, intent, template", ORDER_ACTIONS, ids=[a[0].__name__ for a in ORDER_ACTIONS])
async def test_backend_down_is_never_silence(shop, action, intent, template):
    from actions import records

    records.set_backend(DownShop())
    d, events = await run_action(action(), as_alice(template.format(PAID), intent))
    assert said(d)[-1] == "utter_backend_unavailable"
    assert slot(events, "awaiting_order_answer") is False


# ---- G3: addressing a logged-in buyer by their own account ---------------------------------


async def test_logged_in_buyer_is_addressed_by_their_account(shop):
    from actions.greeting import ActionHandleInform

    surname = [{"entity": "surname", "value": "张"}]
    d, events = await run_action(ActionHandleInform(), as_alice("我姓张", "inform", entities=surname))
    assert events == [SlotSet("shopper_title", "张先生")]
    # Bob's account says 女士: no "先生/女士" guess for her
    d, events = await run_action(
        ActionHandleInform(), as_alice("我姓李", "inform", buyer=BOB, entities=[{"entity": "surname", "value": "李"}])
    )
    assert events == [SlotSet("shopper_title", "李女士")]
    # another surname than the account's: the account says nothing about this person
    d, events = await run_action(
        ActionHandleInform(), as_alice("我姓王", "inform", entities=[{"entity": "surname", "value": "王"}])
    )
    assert events == [SlotSet("shopper_title", "王先生/女士")]
    # what the shopper says wins over the account
    d, events = await run_action(ActionHandleInform(), as_alice("我姓张,是女士", "inform", entities=surname))
    assert events == [SlotSet("shopper_title", "张女士")]
