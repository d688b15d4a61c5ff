"""SqlShop through the ShopBackend interface: ownership, records, changes, catalogue."""

import json
from datetime import date, timedelta, timezone

import pytest
from shop_helpers import T0

from shop.backend import ShopBackend
from shop.errors import BackendUnavailable, ChangeNotAllowed, InvalidTransition, NotFound, OrderNotFound, OutOfStock
from shop.models import AddressInput, NoteKind, RecordKind, RecordState, ReturnReason, TrackingEvent, to_jsonable, yuan
from shop.rules import is_shipment_delayed, price_quote
from shop.sql import SqlShop
from shop.status import OrderStatus

S = OrderStatus
NEW_ADDRESS = AddressInput("张伟", "13700001111", "江苏省", "苏州市", "姑苏区", "人民路100号")


def test_sql_shop_implements_the_interface():
    assert issubclass(SqlShop, ShopBackend)


# ---- ownership (O2) -----------------------------------------------------------------


@pytest.mark.asyncio
async def test_own_order_is_found(shop):
    o = await shop.get_order(shop.ids["a_transit"], buyer_id="buyer_001")
    assert o is not None and o.buyer_id == "buyer_001" and o.status == S.IN_TRANSIT
    assert o.courier == "中通快递" and o.tracking_no and o.latest_tracking.text == "【杭州市】已发出"


@pytest.mark.asyncio
async def test_another_buyers_order_looks_exactly_like_an_unknown_one(shop):
    foreign = await shop.get_order(shop.ids["b_paid"], buyer_id="buyer_001")
    unknown = await shop.get_order("DD20241117999", buyer_id="buyer_001")
    assert foreign is None and unknown is None
    assert await shop.get_order(shop.ids["a_paid"], buyer_id="") is None
    assert await shop.get_order(shop.ids["a_paid"], buyer_id=None) is None


WRITES = [
    ("cancel_order", {}),
    ("request_return", {"reason": ReturnReason.QUALITY}),
    ("change_address", {"address": NEW_ADDRESS}),
    ("change_phone", {"phone": "13700001111"}),
    ("change_spec", {"new_sku_id": "P100-04"}),
    ("request_interception", {}),
    ("record_urge", {}),
    ("record_courier_follow_up", {}),
    ("open_courier_investigation", {}),
    ("add_order_note", {"kind": NoteKind.DELIVERY_TIME, "text": "周末送"}),
]


@pytest.mark.asyncio
@pytest.mark.parametrize("method,kwargs", WRITES, ids=[w[0] for w in WRITES])
async def test_writes_on_another_buyers_order_fail_like_unknown_and_change_nothing(shop, method, kwargs):
    foreign_id, unknown_id = shop.ids["b_paid"], "DD20241117999"
    before = await shop.get_order(foreign_id, buyer_id="buyer_002")
    errors = []
    for oid in (foreign_id, unknown_id):
        with pytest.raises(OrderNotFound) as e:
            await getattr(shop, method)(oid, buyer_id="buyer_001", **kwargs)
        errors.append((type(e.value), str(e.value).replace(oid, "<id>"), e.value.args[0].replace(oid, "<id>")))
    assert errors[0] == errors[1]
    assert await shop.get_order(foreign_id, buyer_id="buyer_002") == before
    assert await shop.records_for("buyer_001") == [] and await shop.records_for("buyer_002") == []


@pytest.mark.asyncio
async def test_follow_up_on_another_buyers_order_is_refused(shop):
    with pytest.raises(OrderNotFound):
        await shop.promise_follow_up(
            buyer_id="buyer_001", topic="物流进展", due_at=T0 + timedelta(hours=2), order_id=shop.ids["b_paid"]
        )


@pytest.mark.asyncio
async def test_recent_orders_are_the_buyers_own_newest_first(shop):
    mine = await shop.recent_orders("buyer_001", limit=10)
    assert [o.order_id for o in mine] == [shop.ids[k] for k in ("a_unpaid", "a_paid", "a_transit", "a_delivered")]
    assert len(await shop.recent_orders("buyer_001", limit=2)) == 2
    paid = await shop.recent_orders("buyer_001", statuses=[S.PAID])
    assert [o.order_id for o in paid] == [shop.ids["a_paid"]]
    assert await shop.recent_orders("nobody") == [] and await shop.recent_orders("") == []


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "text",
    [
        "DD20241117001' OR '1'='1",
        "1 OR 1=1; DROP TABLE shop_orders;--",
        "DD20241117001 DD20241118001",
        "我的订单DD20241117001",
        "",
        "DD2024",
        "x" * 500,
    ],
)
async def test_malformed_order_numbers_find_nothing(shop, text):
    assert await shop.get_order(text, buyer_id="buyer_001") is None
    with pytest.raises(OrderNotFound):
        await shop.record_urge(text, buyer_id="buyer_001")
    assert len(await shop.recent_orders("buyer_001", limit=10)) == 4  # tables intact


@pytest.mark.asyncio
async def test_order_number_is_normalised(shop):
    o = await shop.get_order(" dd20241117001 ", buyer_id="buyer_001")
    assert o is not None and o.order_id == "DD20241117001"


# ---- masking on the way out ---------------------------------------------------------------


@pytest.mark.asyncio
async def test_buyer_and_orders_carry_only_masked_personal_data(shop):
    buyer = await shop.get_buyer("buyer_001")
    assert buyer.salutation == "张先生" and buyer.name == "张*" and buyer.phone == "138****5678"
    assert buyer.default_address.text == "浙江省杭州市西湖区****"
    orders = await shop.recent_orders("buyer_001", limit=10)
    dumped = json.dumps(to_jsonable([buyer, *orders]), ensure_ascii=False)
    for secret in ("13812345678", "文三路", "张伟"):
        assert secret not in dumped
    assert await shop.get_buyer("nobody") is None


# ---- cancel (O7) ------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_cancel_unpaid_order(shop):
    out = await shop.cancel_order(shop.ids["a_unpaid"], buyer_id="buyer_001", reason="拍错了", conversation_id="conv-1")
    assert out.kind == "cancelled" and out.order.status == S.CANCELLED
    o = await shop.get_order(shop.ids["a_unpaid"], buyer_id="buyer_001")
    assert o.status == S.CANCELLED and o.cancelled_at == T0
    ev = o.events[-1]
    assert (ev.name, ev.by, ev.note, ev.at) == ("order.cancelled", "buyer", "拍错了", T0)
    rec = out.record
    assert rec.kind == RecordKind.CANCEL_REQUEST and rec.state == RecordState.DONE
    assert rec.data["outcome"] == "cancelled" and rec.conversation_id == "conv-1"


@pytest.mark.asyncio
async def test_cancel_paid_order_requests_a_refund(shop):
    out = await shop.cancel_order(shop.ids["a_paid"], buyer_id="buyer_001")
    assert out.kind == "refund_requested"
    o = await shop.get_order(shop.ids["a_paid"], buyer_id="buyer_001")
    assert o.status == S.REFUND_REQUESTED and o.refund_requested_at == T0
    assert o.events[-1].details["refund_only"] is True
    assert out.record.state == RecordState.OPEN


@pytest.mark.asyncio
async def test_cancel_shipped_or_delivered_changes_nothing(shop):
    out = await shop.cancel_order(shop.ids["a_transit"], buyer_id="buyer_001")
    assert out.kind == "intercept_or_return" and out.record is None
    assert (await shop.get_order(shop.ids["a_transit"], buyer_id="buyer_001")).status == S.IN_TRANSIT
    out = await shop.cancel_order(shop.ids["a_delivered"], buyer_id="buyer_001")
    assert out.kind == "return" and out.order.status == S.DELIVERED
    await shop.cancel_order(shop.ids["a_unpaid"], buyer_id="buyer_001")
    again = await shop.cancel_order(shop.ids["a_unpaid"], buyer_id="buyer_001")
    assert again.kind == "not_applicable"
    assert len(await shop.records_for("buyer_001", kind=RecordKind.CANCEL_REQUEST)) == 1


# ---- returns (A1-A4) --------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_quality_return_with_photos_is_recorded_and_read_back(shop):
    rec = await shop.request_return(
        shop.ids["a_delivered"],
        buyer_id="buyer_001",
        reason=ReturnReason.QUALITY,
        description="接口松动,充不进电",
        photos=["upload/1.jpg", "upload/2.jpg"],
    )
    assert rec.kind == RecordKind.RETURN_REQUEST and rec.state == RecordState.OPEN
    again = (await shop.records_for("buyer_001", order_id=shop.ids["a_delivered"]))[0]
    assert again == rec
    assert again.data["photos"] == ["upload/1.jpg", "upload/2.jpg"] and again.data["reason"] == "quality"
    assert again.text == "接口松动,充不进电" and again.data["from_status"] == "delivered"
    o = await shop.get_order(shop.ids["a_delivered"], buyer_id="buyer_001")
    assert o.status == S.REFUND_REQUESTED and o.events[-1].name == "order.refund_requested"


@pytest.mark.asyncio
async def test_return_of_unpaid_order_is_an_invalid_transition(shop):
    with pytest.raises(InvalidTransition):
        await shop.request_return(shop.ids["a_unpaid"], buyer_id="buyer_001", reason=ReturnReason.NON_QUALITY)
    assert await shop.records_for("buyer_001") == []


# ---- changes before shipment (O6) ------------------------------------------------------------


@pytest.mark.asyncio
async def test_change_address_before_shipment(shop):
    rec = await shop.change_address(shop.ids["a_paid"], buyer_id="buyer_001", address=NEW_ADDRESS)
    assert rec.data == {"from": "浙江省杭州市西湖区****", "to": "江苏省苏州市姑苏区****"}
    o = await shop.get_order(shop.ids["a_paid"], buyer_id="buyer_001")
    assert o.ship_to.text == "江苏省苏州市姑苏区****" and o.ship_to.phone == "137****1111"
    assert o.status == S.PAID and o.events[-1].name == "order.address_changed"
    assert "人民路" not in json.dumps(to_jsonable([rec, o]), ensure_ascii=False)


@pytest.mark.asyncio
async def test_change_after_shipment_is_refused_with_the_reason(shop):
    for method, kw in (
        ("change_address", {"address": NEW_ADDRESS}),
        ("change_phone", {"phone": "13700001111"}),
        ("change_spec", {"new_sku_id": "P100-04"}),
    ):
        with pytest.raises(ChangeNotAllowed) as e:
            await getattr(shop, method)(shop.ids["a_transit"], buyer_id="buyer_001", **kw)
        assert e.value.reason == "shipped" and e.value.status == S.IN_TRANSIT
    with pytest.raises(ChangeNotAllowed) as e:
        await shop.change_address(shop.ids["a_delivered"], buyer_id="buyer_001", address=NEW_ADDRESS)
    assert e.value.reason == "delivered"


@pytest.mark.asyncio
async def test_change_phone(shop):
    with pytest.raises(ValueError):
        await shop.change_phone(shop.ids["a_paid"], buyer_id="buyer_001", phone="12345")
    rec = await shop.change_phone(shop.ids["a_paid"], buyer_id="buyer_001", phone="137 0000 1111")
    assert rec.data == {"from": "138****5678", "to": "137****1111"}
    assert (await shop.get_order(shop.ids["a_paid"], buyer_id="buyer_001")).ship_to.phone == "137****1111"


@pytest.mark.asyncio
async def test_change_spec_moves_stock(shop):
    rec = await shop.change_spec(shop.ids["a_paid"], buyer_id="buyer_001", new_sku_id="P100-04")
    assert (rec.data["from"], rec.data["to"]) == ("白色 / 1米", "蓝色 / 1米")
    o = await shop.get_order(shop.ids["a_paid"], buyer_id="buyer_001")
    assert o.items[0].sku_id == "P100-04" and o.items[0].spec == "蓝色 / 1米"
    assert (await shop.get_sku("P100-04")).stock == 4 and (await shop.get_sku("P100-01")).stock == 101


@pytest.mark.asyncio
async def test_change_spec_refusals(shop):
    oid = shop.ids["a_paid"]
    with pytest.raises(OutOfStock) as e:
        await shop.change_spec(oid, buyer_id="buyer_001", new_sku_id="P100-02")
    assert e.value.restock_date == date(2024, 11, 25)
    with pytest.raises(ChangeNotAllowed) as e:
        await shop.change_spec(oid, buyer_id="buyer_001", new_sku_id="P100-03")
    assert e.value.reason == "price_differs"
    with pytest.raises(ChangeNotAllowed) as e:
        await shop.change_spec(oid, buyer_id="buyer_001", new_sku_id="P101-01")
    assert e.value.reason == "other_product"
    with pytest.raises(ChangeNotAllowed) as e:
        await shop.change_spec(oid, buyer_id="buyer_001", new_sku_id="P100-01")
    assert e.value.reason == "same_sku"
    with pytest.raises(NotFound):
        await shop.change_spec(oid, buyer_id="buyer_001", new_sku_id="P999-01")


@pytest.mark.asyncio
async def test_interception_only_for_parcels_on_their_way(shop):
    rec = await shop.request_interception(shop.ids["a_transit"], buyer_id="buyer_001", reason="地址写错了")
    assert rec.kind == RecordKind.INTERCEPTION and rec.data["last_station"] == "杭州转运中心"
    with pytest.raises(ChangeNotAllowed) as e:
        await shop.request_interception(shop.ids["a_paid"], buyer_id="buyer_001")
    assert e.value.reason == "not_shipped"


# ---- records about an order (O3, O4, O5, O8) ------------------------------------------------


@pytest.mark.asyncio
async def test_urges_are_counted(shop, store):
    o = await shop.get_order(shop.ids["a_paid"], buyer_id="buyer_001")
    assert is_shipment_delayed(o, T0, store)
    first = await shop.record_urge(o.order_id, buyer_id="buyer_001")
    second = await shop.record_urge(o.order_id, buyer_id="buyer_001", note="很急")
    assert (first.data["urge_count"], second.data["urge_count"]) == (1, 2)
    assert first.kind == RecordKind.URGE and second.text == "很急" and first.created_at == T0


@pytest.mark.asyncio
async def test_courier_follow_up_keeps_the_last_station(shop):
    rec = await shop.record_courier_follow_up(shop.ids["a_transit"], buyer_id="buyer_001")
    assert rec.data["last_station"] == "杭州转运中心" and rec.data["courier"] == "中通快递"
    assert rec.data["tracking_no"]


@pytest.mark.asyncio
async def test_investigation_keeps_who_signed(shop):
    rec = await shop.open_courier_investigation(shop.ids["a_delivered"], buyer_id="buyer_001", note="家里没人收到")
    assert rec.kind == RecordKind.COURIER_INVESTIGATION and rec.data["signed_by"] == "家人"
    assert rec.data["delivered_at"] and rec.state == RecordState.OPEN


@pytest.mark.asyncio
async def test_delivery_time_wish_is_noted_on_the_order(shop):
    rec = await shop.add_order_note(
        shop.ids["a_paid"], buyer_id="buyer_001", kind=NoteKind.DELIVERY_TIME, text="工作日白天不在家,周末送"
    )
    assert rec.kind == RecordKind.ORDER_NOTE and rec.data["note_kind"] == "delivery_time"
    o = await shop.get_order(shop.ids["a_paid"], buyer_id="buyer_001")
    assert o.events[-1].name == "order.note_added" and o.events[-1].details["text"] == "工作日白天不在家,周末送"


# ---- other records (F4, C7, G7) and the store side --------------------------------------------


@pytest.mark.asyncio
async def test_follow_up_promise_until_kept(shop):
    due = T0 + timedelta(hours=2)
    rec = await shop.promise_follow_up(
        buyer_id="buyer_001", topic="核实物流进展", due_at=due, order_id=shop.ids["a_transit"], conversation_id="conv-9"
    )
    assert rec.due_at == due and rec.state == RecordState.OPEN and rec.order_id == shop.ids["a_transit"]
    assert await shop.open_records(kind=RecordKind.FOLLOW_UP, due_before=T0 + timedelta(hours=1)) == []
    assert [r.record_id for r in await shop.open_records(kind=RecordKind.FOLLOW_UP, due_before=due)] == [rec.record_id]
    closed = await shop.close_record(rec.record_id, at=due, note="已回复买家")
    assert closed.state == RecordState.DONE and closed.closed_at == due and closed.data["close_note"] == "已回复买家"
    assert await shop.open_records(kind=RecordKind.FOLLOW_UP) == []
    assert await shop.close_record(999999) is None


@pytest.mark.asyncio
async def test_questions_and_suggestions_also_without_login(shop):
    q = await shop.record_question(text="这款充电器能给无人机充电吗?", conversation_id="anon-1")
    s = await shop.record_suggestion(text="希望出更多颜色", buyer_id="buyer_002")
    assert q.buyer_id is None and q.kind == RecordKind.QUESTION
    assert [r.record_id for r in await shop.records_for("buyer_002")] == [s.record_id]
    open_ids = [r.record_id for r in await shop.open_records()]
    assert q.record_id in open_ids and s.record_id in open_ids


@pytest.mark.asyncio
async def test_times_come_back_aware_utc(shop):
    o = await shop.get_order(shop.ids["a_paid"], buyer_id="buyer_001")
    assert o.created_at.tzinfo is not None and o.created_at.utcoffset() == timedelta(0)
    assert o.created_at == T0 - timedelta(days=3)


# ---- catalogue (P1, P2, P5) ------------------------------------------------------------------


@pytest.mark.asyncio
async def test_catalogue_lookup(shop):
    p = await shop.get_product("P100")
    assert p.category == "数据线" and p.colors == ("白色", "黑色", "蓝色") and p.sizes == ("1米", "2米")
    assert p.faq[0].q == "支持快充吗?" and p.specs["材质"] == "尼龙编织"
    assert p.price == yuan("29.9") and p.promotion.coupon.threshold == yuan(49)
    assert await shop.get_product("nope") is None
    assert [x.product_id for x in await shop.find_products(category="数据线")] == ["P100", "P101"]
    assert [x.product_id for x in await shop.find_products(text="转接头")] == ["P200"]
    assert [x.product_id for x in await shop.find_products(category="数据线", color="黑色")] == ["P100", "P101"]
    assert [x.product_id for x in await shop.find_products(category="数据线", color="黑色", in_stock=True)] == ["P101"]
    assert [x.product_id for x in await shop.find_products(size="2m")] == ["P100"]


@pytest.mark.asyncio
async def test_sold_out_variant_and_alternatives(shop):
    sku = await shop.get_sku("P100-02")
    assert sku.sold_out and sku.restock_date == date(2024, 11, 25) and sku.spec == "黑色 / 1米"
    assert [p.product_id for p in await shop.similar_products("P100")] == ["P101"]
    p = await shop.get_product("P100")
    assert [s.sku_id for s in p.matching_skus(color="黑色")] == ["P100-02"]
    assert [s.sku_id for s in p.matching_skus(size="1M")] == ["P100-01", "P100-02", "P100-04"]


@pytest.mark.asyncio
async def test_price_quote_with_promotion_and_coupon(shop):
    p = await shop.get_product("P100")
    one = price_quote(p, p.sku("P100-01"), 1, now=T0)
    assert (one.list_price, one.unit_price, one.coupon_amount, one.final_total) == (
        yuan("29.9"),
        yuan("24.9"),
        yuan(0),
        yuan("24.9"),
    )
    assert one.coupon_missing == yuan("24.1") and one.promotion.name == "秋季焕新季"
    two = price_quote(p, p.sku("P100-01"), 2, now=T0)
    assert (two.subtotal, two.coupon_amount, two.final_total) == (yuan("49.8"), yuan(5), yuan("44.8"))
    after = price_quote(p, p.sku("P100-01"), 2, now=T0 + timedelta(days=3))
    assert after.promotion is None and after.unit_price == yuan("29.9") and after.final_total == yuan("59.8")
    cheapest = price_quote(p, now=T0)
    assert cheapest.sku_id == "P100-01"


# ---- storage ------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_sqlite_file_is_created_and_persists(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path}/sub/shop.db"
    a = SqlShop(url, clock=lambda: T0)
    await a.start()
    rec = await a.record_question(text="能开发票吗")
    await a.close()
    assert (tmp_path / "sub" / "shop.db").exists()
    async with SqlShop(url) as b:
        assert [r.text for r in await b.open_records()] == ["能开发票吗"] and rec.record_id == 1


@pytest.mark.asyncio
async def test_unreachable_database_raises_backend_unavailable(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    broken = SqlShop(f"sqlite+aiosqlite:///{blocker}/shop.db")  # a file where a folder should be
    with pytest.raises(BackendUnavailable):
        await broken.start()
    with pytest.raises(BackendUnavailable):
        await broken.get_order("DD20241117001", buyer_id="buyer_001")


@pytest.mark.asyncio
async def test_naive_times_are_refused(shop):
    with pytest.raises(ValueError):
        await shop.record_question(text="x", at=T0.replace(tzinfo=None))
    assert T0.tzinfo is timezone.utc


@pytest.mark.asyncio
async def test_store_side_order_life_through_the_transition_function(shop):
    o = await shop.create_order(
        order_id="dd20241120005", buyer_id="buyer_002", items=[("P100-01", 2)], at=T0, buyer_note="送朋友的"
    )
    assert o.order_id == "DD20241120005" and o.status == S.UNPAID
    assert o.items[0].unit_price == yuan("24.9") and o.goods_amount == yuan("49.8")  # promotion price today
    assert o.ship_to.text == "广东省深圳市南山区****"
    t = T0 + timedelta(minutes=5)
    await shop.advance(o.order_id, S.PAID, at=t, by="buyer")
    with pytest.raises(InvalidTransition):
        await shop.advance(o.order_id, S.DELIVERED, at=t, signed_by="本人")
    await shop.add_tracking(
        o.order_id, TrackingEvent(t + timedelta(hours=2), "东莞市", "东莞仓", "【东莞市】已揽收", "collected")
    )
    await shop.advance(o.order_id, S.SHIPPED, at=t + timedelta(hours=2), courier="顺丰速运", tracking_no="SF1")
    got = await shop.get_order(o.order_id, buyer_id="buyer_002")
    assert got.status == S.SHIPPED and got.courier == "顺丰速运" and got.latest_tracking.station == "东莞仓"
    assert [e.name for e in got.events] == ["order.created", "order.paid", "order.shipped"]
    assert got.buyer_note == "送朋友的"
    assert await shop.get_order(o.order_id, buyer_id="buyer_001") is None
    with pytest.raises(NotFound):
        await shop.advance("DD20990101001", S.PAID)


@pytest.mark.asyncio
async def test_photos_added_later_to_own_return_request_only(shop):
    rec = await shop.request_return(
        shop.ids["a_delivered"], buyer_id="buyer_001", reason=ReturnReason.QUALITY, description="外壳裂了"
    )
    assert rec.data["photos"] == []
    with pytest.raises(NotFound):
        await shop.add_photos(rec.record_id, buyer_id="buyer_002", photos=["x.jpg"])
    updated = await shop.add_photos(rec.record_id, buyer_id="buyer_001", photos=["a.jpg", "b.jpg"])
    assert updated.data["photos"] == ["a.jpg", "b.jpg"]
    assert (await shop.records_for("buyer_001", kind=RecordKind.RETURN_REQUEST))[0].data["photos"] == ["a.jpg", "b.jpg"]
    urge = await shop.record_urge(shop.ids["a_paid"], buyer_id="buyer_001")
    with pytest.raises(NotFound):
        await shop.add_photos(urge.record_id, buyer_id="buyer_001", photos=["x.jpg"])


@pytest.mark.asyncio
@pytest.mark.parametrize("memory", [True, False], ids=["memory", "file"])
async def test_concurrent_changes_see_each_others_result(tmp_path, memory):
    import asyncio

    from shop_helpers import shop_data

    url = "sqlite+aiosqlite://" if memory else f"sqlite+aiosqlite:///{tmp_path}/c.db"
    async with SqlShop(url, clock=lambda: T0) as s:
        await s.load(shop_data())
        oid = "DD20241117001"
        outcomes = await asyncio.gather(*[s.cancel_order(oid, buyer_id="buyer_001") for _ in range(4)])
        assert sorted(o.kind for o in outcomes) == ["not_applicable"] * 3 + ["refund_requested"]
        o = await s.get_order(oid, buyer_id="buyer_001")
        assert [e.name for e in o.events].count("order.refund_requested") == 1
        urges = await asyncio.gather(*[s.record_urge("DD20241118001", buyer_id="buyer_001") for _ in range(5)])
        assert sorted(r.data["urge_count"] for r in urges) == [1, 2, 3, 4, 5]
