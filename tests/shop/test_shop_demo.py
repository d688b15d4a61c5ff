"""Demo data: deterministic, covering every status and situation, consistent with the rules."""

import json
import re
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest
import yaml

from shop.demo import META_KEY, NotDemoDatabase, build_demo, main, orders_json, write_demo
from shop.rules import is_shipment_delayed, is_transit_stalled, shipping_fee
from shop.sql import SqlShop
from shop.status import EVENT_CREATED, OrderStatus, apply, transition
from xiaoer.lexicon import ORDER_ID_RE, PHONE_RE
from xiaoer.text import LEXICON_DIR

NOW = datetime(2024, 11, 20, 7, 0, tzinfo=timezone.utc)
S = OrderStatus


@pytest.fixture(scope="module")
def demo(store):
    return build_demo(seed=42, now=NOW, store=store)


def orders(demo):
    return [o for o, _ in demo.orders]


def test_same_seed_and_now_give_identical_data(demo, store):
    again = build_demo(seed=42, now=NOW, store=store)
    assert orders_json(orders(again)) == orders_json(orders(demo))
    assert [b.phone for b in again.buyers] == [b.phone for b in demo.buyers]
    assert build_demo(seed=7, now=NOW, store=store).orders != demo.orders


@pytest.mark.asyncio
async def test_database_round_trip_keeps_every_order_field(demo):
    async with SqlShop("sqlite+aiosqlite://") as a, SqlShop("sqlite+aiosqlite://") as b:
        await write_demo(a, demo)
        await write_demo(b, demo)
        from_a = orders_json(await a.all_orders())
        assert from_a == orders_json(await b.all_orders())
        assert from_a == orders_json(orders(demo))


def test_sizes(demo):
    assert len(demo.products) >= 30 and len(demo.buyers) >= 20 and len(demo.orders) >= 200


def test_every_status_is_present(demo):
    counts = Counter(o.status for o in orders(demo))
    assert set(counts) == set(S)
    assert min(counts.values()) >= 6


def test_situations_the_bot_must_handle_are_present(demo, store):
    os_ = orders(demo)
    delayed = [o for o in os_ if is_shipment_delayed(o, NOW, store)]
    stalled = [o for o in os_ if is_transit_stalled(o, NOW, 48)]
    assert len(delayed) >= 5 and all(NOW - o.paid_at > timedelta(hours=48) for o in delayed)
    assert len(stalled) >= 5 and all(NOW - o.tracking[-1].at > timedelta(hours=48) for o in stalled)
    signers = Counter(o.signed_by for o in os_ if o.status == S.DELIVERED)
    assert signers["家人"] >= 1 and signers["驿站"] + signers["快递柜"] >= 1 and signers["本人"] >= 1
    delivered_in_window = [o for o in os_ if o.status == S.DELIVERED and NOW - o.delivered_at < timedelta(days=7)]
    completed_out_of_window = [o for o in os_ if o.status == S.COMPLETED and NOW - o.delivered_at > timedelta(days=7)]
    assert delivered_in_window and completed_out_of_window


def test_histories_replay_through_the_transition_function(demo):
    for o in orders(demo):
        assert o.events[0].name == EVENT_CREATED
        replay = o.__class__(
            **{
                **o.__dict__,
                "status": S.UNPAID,
                "events": o.events[:1],
                "updated_at": o.created_at,
                "paid_at": None,
                "shipped_at": None,
                "delivered_at": None,
                "completed_at": None,
                "cancelled_at": None,
                "refund_requested_at": None,
                "refunded_at": None,
                "closed_at": None,
                "courier": None,
                "tracking_no": None,
                "signed_by": None,
            }
        )
        for ev in o.events[1:]:
            again = transition(replay, ev.to_status, at=ev.at, by=ev.by, note=ev.note, **ev.details)
            assert again.name == ev.name
            replay = apply(replay, again)
        assert replay == o


def test_times_are_recent_and_never_in_the_future(demo):
    for o in orders(demo):
        times = [e.at for e in o.events] + [t.at for t in o.tracking]
        assert max(times) <= NOW
        assert NOW - o.created_at < timedelta(days=45)
        assert [t.at for t in o.tracking] == sorted(t.at for t in o.tracking)
        if o.tracking:
            assert o.tracking[0].at == o.shipped_at
        assert o.status.is_shipped == (o.status in (S.SHIPPED, S.IN_TRANSIT, S.OUT_FOR_DELIVERY))
        assert bool(o.courier) == (o.shipped_at is not None)


def test_order_numbers_are_valid_unique_and_of_both_kinds(demo):
    ids = [o.order_id for o in orders(demo)]
    assert len(set(ids)) == len(ids)
    assert all(ORDER_ID_RE.fullmatch(i) for i in ids)
    dd = [i for i in ids if i.startswith("DD")]
    assert dd and len(dd) < len(ids)
    assert all(re.fullmatch(r"DD20\d{6}\d{3}", i) for i in dd)
    assert all(16 <= len(i) <= 19 for i in ids if not i.startswith("DD"))


def test_catalogue_matches_the_lexicon(demo):
    lexicon = yaml.safe_load((LEXICON_DIR / "entities.yml").read_text(encoding="utf-8"))
    assert {p.category for p in demo.products} <= set(lexicon["product"])
    colors = {s.color for p in demo.products for s in p.skus if s.color}
    assert colors <= set(lexicon["color"])
    assert len({p.category for p in demo.products}) >= 10


def test_catalogue_has_sold_out_variants_promotions_and_shipping_mix(demo):
    skus = [s for p in demo.products for s in p.skus]
    assert sum(1 for s in skus if s.sold_out and s.restock_date) >= 5
    assert any(s.sold_out and not s.restock_date for s in skus)
    assert all(s.restock_date > NOW.date() for s in skus if s.restock_date)
    active = [p for p in demo.products if p.promotion and p.promotion.active(NOW)]
    assert len([p for p in active if p.promotion.coupon]) >= 3
    assert any(p.promotion and not p.promotion.active(NOW) for p in demo.products)
    free = sum(p.free_shipping for p in demo.products)
    assert free > len(demo.products) * 0.8 and free < len(demo.products)
    assert all(p.faq and p.specs for p in demo.products)


def test_buyers(demo):
    ids = [b.buyer_id for b in demo.buyers]
    assert len(set(ids)) == len(ids)
    assert any(i.startswith("buyer_") for i in ids) and any(i.startswith("tb_") for i in ids)
    with_orders = Counter(o.buyer_id for o in orders(demo))
    assert set(with_orders) == set(ids) and min(with_orders.values()) >= 5
    for b in demo.buyers:
        assert PHONE_RE.fullmatch(b.phone) and b.addresses
    remote = [b for b in demo.buyers if b.addresses[0].province.startswith(("新疆", "内蒙古"))]
    assert remote


def test_fees_follow_the_store_rules(demo, store):
    for o in orders(demo):
        if o.courier:
            q = shipping_fee(store, destination=o.ship_to.city, items=o.items, courier=o.courier)
            assert o.shipping_fee == q.fee, o.order_id
        assert o.total == o.goods_amount + o.shipping_fee - o.discount


@pytest.mark.asyncio
async def test_rerun_replaces_demo_data_and_keeps_foreign_data_safe(demo, store, tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path}/shop.db"
    async with SqlShop(url) as shop:
        await write_demo(shop, demo)
        await shop.record_question(text="bot record", at=NOW)
        await write_demo(shop, build_demo(seed=42, now=NOW, store=store))
        counts = await shop.count_rows()
        assert counts["shop_orders"] == len(demo.orders) and counts["shop_records"] == 0
        assert json.loads(await shop.get_meta(META_KEY)) == {"seed": 42, "now": NOW.isoformat()}
    async with SqlShop(f"sqlite+aiosqlite:///{tmp_path}/real.db") as real:
        await real.put_buyer(demo.buyers[0])
        with pytest.raises(NotDemoDatabase):
            await write_demo(real, demo)
        await write_demo(real, demo, force=True)
        assert (await real.count_rows())["shop_orders"] == len(demo.orders)


def test_command_line(tmp_path, capsys):
    url = f"sqlite+aiosqlite:///{tmp_path}/cli.db"
    assert main(["--db", url, "--seed", "3", "--now", "2024-11-20T15:00", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert len(data) >= 200 and {o["status"] for o in data} == {s.value for s in S}
    assert all("****" in o["ship_to"]["text"] and "****" in o["ship_to"]["phone"] for o in data)
    assert main(["--db", url, "--seed", "3", "--now", "2024-11-20T15:00"]) == 0
    out = capsys.readouterr().out
    assert "buyer_001" in out and "metadata" in out and "发货超时" in out and "物流停滞" in out
    assert not re.search(r"(?<!\d)1[3-9]\d{9}(?!\d)", out)  # no full phone number
