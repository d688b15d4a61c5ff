"""Demo data: a believable store to chat with.

    python -m shop.demo [--seed 42] [--now 2024-11-20T15:00] [--db URL] [--json] [--force]

Fills the shop database with the catalogue of `shop/demo_catalogue.yml`,
22 buyers and 240 orders over every status — delayed shipments, parcels
stalled in transit, parcels signed for by family or left at a 驿站 — timed
relative to `--now` (default: now). Same seed and same now give the same
data. Prints the demo buyers with some of their orders (chat as them by
sending `metadata.buyer_id`); `--json` prints every order instead.

Re-running replaces the demo data. A database that holds orders but was not
filled by this command is left alone unless `--force`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import yaml

from shop.ids import dd_order_id, numeric_order_id
from shop.masking import mask_address, mask_phone, masked_address, surname_of
from shop.models import (
    AddressInput,
    BuyerInput,
    Coupon,
    FaqEntry,
    Gender,
    Order,
    OrderItem,
    Product,
    Promotion,
    Sku,
    TrackingEvent,
    to_jsonable,
    yuan,
)
from shop.rules import is_shipment_delayed, is_transit_stalled, shipping_fee, stall_hours
from shop.sql import ShopData, SqlShop
from shop.status import EVENT_CREATED, OrderEvent, OrderStatus, apply, transition
from shop.timeutil import DEFAULT_TZ, parse_when, utcnow, zone
from xiaoer.store_config import StoreConfig, get_store

S = OrderStatus
CATALOGUE_PATH = Path(__file__).resolve().parent / "demo_catalogue.yml"
META_KEY = "demo"
N_BUYERS = 22

# (status, flavour, how many): every status, with the situations the bot must handle.
ORDER_PLAN: Sequence[Tuple[OrderStatus, str, int]] = (
    (S.UNPAID, "", 16),
    (S.PAID, "", 20),
    (S.PAID, "delayed", 8),  # paid > ship_max_hours ago, not shipped (O3)
    (S.SHIPPED, "", 16),
    (S.IN_TRANSIT, "", 24),
    (S.IN_TRANSIT, "stalled", 8),  # last tracking event > 48 h old (O4)
    (S.OUT_FOR_DELIVERY, "", 12),
    (S.DELIVERED, "", 18),
    (S.DELIVERED, "others", 12),  # signed by family, 驿站, 快递柜 ... (O5)
    (S.COMPLETED, "", 44),
    (S.CANCELLED, "", 14),
    (S.REFUND_REQUESTED, "unshipped", 8),
    (S.REFUND_REQUESTED, "delivered", 6),
    (S.RETURNING, "", 8),
    (S.REFUNDED, "unshipped", 6),
    (S.REFUNDED, "returned", 6),
    (S.CLOSED, "timeout", 6),
    (S.CLOSED, "refunded", 8),
)

SURNAMES = [
    "张",
    "王",
    "李",
    "赵",
    "刘",
    "陈",
    "杨",
    "黄",
    "周",
    "吴",
    "徐",
    "孙",
    "胡",
    "朱",
    "高",
    "林",
    "何",
    "郭",
    "马",
    "罗",
    "欧阳",
    "梁",
]
GIVEN = {
    Gender.MALE: [
        "伟",
        "强",
        "磊",
        "军",
        "洋",
        "勇",
        "杰",
        "涛",
        "明",
        "超",
        "浩然",
        "宇航",
        "鹏",
        "俊杰",
        "子轩",
        "志远",
    ],
    Gender.FEMALE: ["芳", "娜", "敏", "静", "丽", "艳", "婷", "雪", "琳", "颖", "欣怡", "雨桐", "梦瑶", "思琪", "晓彤"],
}
# province, city, district, streets
PLACES = [
    ("浙江省", "杭州市", "西湖区", ["文三路", "古墩路", "天目山路"]),
    ("浙江省", "宁波市", "鄞州区", ["天童南路", "四明中路"]),
    ("江苏省", "苏州市", "姑苏区", ["人民路", "干将西路"]),
    ("江苏省", "南京市", "鼓楼区", ["中山北路", "湖南路"]),
    ("上海市", "上海市", "浦东新区", ["张杨路", "世纪大道"]),
    ("上海市", "上海市", "徐汇区", ["漕溪北路", "宜山路"]),
    ("北京市", "北京市", "朝阳区", ["建国路", "望京街"]),
    ("北京市", "北京市", "海淀区", ["中关村大街", "学院路"]),
    ("广东省", "深圳市", "南山区", ["科技园南路", "深南大道"]),
    ("广东省", "广州市", "天河区", ["天河路", "体育西路"]),
    ("四川省", "成都市", "武侯区", ["人民南路", "科华北路"]),
    ("湖北省", "武汉市", "洪山区", ["珞喻路", "光谷大道"]),
    ("山东省", "青岛市", "市南区", ["香港中路", "山东路"]),
    ("安徽省", "合肥市", "蜀山区", ["长江西路", "黄山路"]),
    ("福建省", "厦门市", "思明区", ["湖滨南路", "厦禾路"]),
    ("河南省", "郑州市", "金水区", ["花园路", "经三路"]),
    ("陕西省", "西安市", "雁塔区", ["小寨东路", "科技路"]),
    ("辽宁省", "沈阳市", "和平区", ["南京南街", "三好街"]),
    ("湖南省", "长沙市", "岳麓区", ["麓山南路", "枫林三路"]),
    ("重庆市", "重庆市", "渝北区", ["新牌坊", "金开大道"]),
    ("新疆维吾尔自治区", "乌鲁木齐市", "天山区", ["解放南路", "新华南路"]),
    ("内蒙古自治区", "呼和浩特市", "赛罕区", ["大学东街", "昭乌达路"]),
    ("云南省", "昆明市", "五华区", ["人民中路", "东风西路"]),
    ("黑龙江省", "哈尔滨市", "南岗区", ["西大直街", "学府路"]),
]
COMMUNITIES = ["阳光花园", "锦绣家园", "翠苑小区", "金色家园", "万科城", "绿城桂花园", "书香苑", "滨江花园", "和平里"]
SIGNERS_OTHERS = ["家人", "家人", "驿站", "快递柜", "前台", "门卫", "同事"]
BUYER_NOTES = ["工作日白天家里没人,请放驿站", "周末再送", "送朋友的礼物,不要放价格单", "请用纸箱包装", "尽量早点发货"]
# weights of the couriers an order asks for: mostly the store's default
COURIER_CHOICES = (("default", 8), ("中通快递", 0), ("圆通速递", 1), ("顺丰速运", 1))


# ---- catalogue ---------------------------------------------------------------------


def _local_midnight(day: date, tz: str) -> datetime:
    return datetime.combine(day, time(0, 0), tzinfo=zone(tz)).astimezone(timezone.utc)


def load_catalogue(now: datetime, path: Optional[Path] = None, tz: str = DEFAULT_TZ) -> List[Product]:
    """Products of the catalogue YAML, dates relative to `now`."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the C parser is ~10x faster
    data = yaml.load(Path(path or CATALOGUE_PATH).read_text(encoding="utf-8"), Loader=loader)
    today = now.astimezone(zone(tz)).date()
    products = []
    for p in data["products"]:
        pid = str(p["id"])
        promo_cfg = p.get("promotion")
        skus = []
        for n, s in enumerate(p["skus"], start=1):
            price = yuan(s.get("price", p["price"]))
            promo_price = None
            if promo_cfg:
                promo_price = (
                    yuan(s["promo_price"]) if "promo_price" in s else yuan(price - promo_cfg.get("discount", 0))
                )
            restock = s.get("restock_in_days")
            skus.append(
                Sku(
                    sku_id=f"{pid}-{n:02d}",
                    product_id=pid,
                    color=s.get("color"),
                    size=s.get("size"),
                    price=price,
                    stock=int(s["stock"]),
                    promo_price=promo_price,
                    restock_date=today + timedelta(days=int(restock))
                    if restock is not None and s["stock"] == 0
                    else None,
                )
            )
        promo = None
        if promo_cfg:
            coupon = promo_cfg.get("coupon")
            promo = Promotion(
                name=promo_cfg["name"],
                starts_at=_local_midnight(today - timedelta(days=int(promo_cfg.get("started_days_ago", 0))), tz),
                # ends at the end of the local day
                ends_at=_local_midnight(today + timedelta(days=int(promo_cfg["ends_in_days"]) + 1), tz),
                coupon=Coupon(yuan(coupon["threshold"]), yuan(coupon["amount"])) if coupon else None,
            )
        products.append(
            Product(
                product_id=pid,
                name=p["name"],
                category=p["category"],
                price=min(s.price for s in skus),
                free_shipping=bool(p["free_shipping"]),
                weight_g=int(p["weight_g"]),
                skus=tuple(skus),
                promotion=promo,
                specs={str(k): str(v) for k, v in (p.get("specs") or {}).items()},
                faq=tuple(FaqEntry(str(f["q"]), str(f["a"])) for f in p.get("faq") or []),
                description=p.get("description", ""),
            )
        )
    return products


# ---- buyers ------------------------------------------------------------------------


def _phone(rng: random.Random) -> str:
    return "1" + rng.choice("3456789") + "".join(str(rng.randint(0, 9)) for _ in range(9))


def _name(rng: random.Random, gender: Gender) -> str:
    return rng.choice(SURNAMES) + rng.choice(GIVEN[gender])


def _address(rng: random.Random, recipient: str, phone: str, place=None) -> AddressInput:
    province, city, district, streets = place or rng.choice(PLACES)
    detail = (
        f"{rng.choice(streets)}{rng.randint(1, 399)}号{rng.choice(COMMUNITIES)}"
        f"{rng.randint(1, 30)}幢{rng.randint(1, 4)}单元{rng.randint(1, 28)}{rng.randint(1, 4):02d}室"
    )
    return AddressInput(
        recipient=recipient, phone=phone, province=province, city=city, district=district, detail=detail
    )


def make_buyers(rng: random.Random, now: datetime, n: int = N_BUYERS) -> List[BuyerInput]:
    buyers = []
    for i in range(n):
        gender = Gender.MALE if rng.random() < 0.5 else Gender.FEMALE
        name = _name(rng, gender)
        phone = _phone(rng)
        if i < n - 4:
            buyer_id = f"buyer_{i + 1:03d}"
        else:  # platform-style account names
            buyer_id = "tb_" + "".join(rng.choice("abcdefghjkmnpqrstuvwxyz23456789") for _ in range(8))
        place = PLACES[i % len(PLACES)]  # every region, remote ones included
        addresses = [_address(rng, name, phone, place)]
        if rng.random() < 0.4:  # a second address: work, or a family member's
            other = name if rng.random() < 0.5 else _name(rng, rng.choice(list(Gender)))
            addresses.append(_address(rng, other, phone if other == name else _phone(rng)))
        buyers.append(
            BuyerInput(
                buyer_id=buyer_id,
                name=name,
                gender=gender,
                phone=phone,
                addresses=tuple(addresses),
                created_at=now - timedelta(days=rng.randint(60, 900)),
            )
        )
    return buyers


# ---- orders -----------------------------------------------------------------------------


@dataclass
class _Plan:
    status: OrderStatus
    flavour: str
    buyer: BuyerInput
    times: Dict[str, datetime]
    steps: List[Tuple[OrderStatus, str]] = field(default_factory=list)  # (status, time key) after payment
    order_id: str = ""


def _sec(dt: datetime) -> datetime:
    return dt.replace(microsecond=0)


def _plan_times(
    rng: random.Random, status: OrderStatus, flavour: str, now: datetime, ship_max_hours: int
) -> Dict[str, datetime]:
    """The moments of an order's life, all before `now`; keys name what happens then."""
    h = lambda a, b: timedelta(hours=rng.uniform(a, b))  # noqa: E731
    t: Dict[str, datetime] = {}

    def between(start: datetime, end: datetime, *keys: str) -> None:
        marks = sorted(rng.uniform(0.05, 0.95) for _ in keys)
        for key, m in zip(keys, marks, strict=False):
            t[key] = start + (end - start) * m

    def shipped_until(stage: str, last: datetime, span: Tuple[float, float]) -> None:
        t["last"] = last
        t["shipped"] = last - h(*span) if stage != "collected" else last
        t["paid"] = t["shipped"] - h(1.5, min(30, ship_max_hours - 2))
        t["stage"] = stage  # type: ignore[assignment]

    if status == S.UNPAID:
        t["created"] = now - h(0.2, 20)
    elif status == S.CANCELLED:
        t["created"] = now - h(12, 40 * 24)
        t["cancelled"] = t["created"] + h(0.1, 10)
    elif status == S.CLOSED and flavour == "timeout":
        t["created"] = now - h(2 * 24, 40 * 24)
        t["closed"] = t["created"] + timedelta(hours=24)
    elif status == S.PAID:
        t["paid"] = now - (h(ship_max_hours + 2, ship_max_hours + 48) if flavour == "delayed" else h(0.3, 30))
    elif status == S.SHIPPED:
        shipped_until("collected", now - h(0.5, 18), (0, 0))
    elif status == S.IN_TRANSIT:
        last = now - (h(50, 110) if flavour == "stalled" else h(0.5, 20))
        shipped_until("in_transit", last, (6, 40))
    elif status == S.OUT_FOR_DELIVERY:
        shipped_until("delivering", now - h(0.3, 5), (20, 70))
    elif status == S.DELIVERED:
        shipped_until("signed", now - h(2, 6 * 24), (20, 70))
    elif status == S.COMPLETED:
        shipped_until("signed", now - h(2 * 24, 40 * 24), (20, 70))
        t["completed"] = min(t["last"] + h(8, 10 * 24), now - h(0.5, 2))
    elif (
        status in (S.REFUND_REQUESTED, S.REFUNDED, S.CLOSED)
        and flavour in ("unshipped", "refunded")
        and (flavour == "unshipped" or rng.random() < 0.5)
    ):
        t["paid"] = now - (h(3, 40) if status == S.REFUND_REQUESTED else h(24, 30 * 24))
        keys = {
            S.REFUND_REQUESTED: ("refund_requested",),
            S.REFUNDED: ("refund_requested", "refunded"),
            S.CLOSED: ("refund_requested", "refunded", "closed"),
        }[status]
        between(t["paid"], now, *keys)
        t["path"] = "unshipped"  # type: ignore[assignment]
    else:  # delivered, then a return: refund_requested / returning / refunded / closed
        oldest = {S.REFUND_REQUESTED: 6, S.RETURNING: 12, S.REFUNDED: 30, S.CLOSED: 35}[status]
        shipped_until("signed", now - h(26, oldest * 24), (20, 70))
        keys = {
            S.REFUND_REQUESTED: ("refund_requested",),
            S.RETURNING: ("refund_requested", "returning"),
            S.REFUNDED: ("refund_requested", "returning", "refunded"),
            S.CLOSED: ("refund_requested", "returning", "refunded", "closed"),
        }[status]
        # the return is asked for inside the 7-day window
        between(t["last"], min(now, t["last"] + timedelta(days=6)), keys[0])
        if len(keys) > 1:
            between(t["refund_requested"], now, *keys[1:])
        t["path"] = "returned"  # type: ignore[assignment]
    if "paid" in t and "created" not in t:
        t["created"] = t["paid"] - timedelta(minutes=rng.uniform(1, 30))
    return {k: (_sec(v) if isinstance(v, datetime) else v) for k, v in t.items()}


def _tracking_no(rng: random.Random, courier: str) -> str:
    digits = lambda n: "".join(str(rng.randint(0, 9)) for _ in range(n))  # noqa: E731
    if courier == "顺丰速运":
        return "SF" + digits(13)
    if courier == "圆通速递":
        return "YT" + digits(13)
    if courier == "京东快递":
        return "JDX" + digits(12)
    return "7" + digits(14)


def _short(city: str) -> str:
    return city[:-1] if city.endswith("市") and len(city) > 2 else city


def _tracking(
    rng: random.Random,
    stage: str,
    shipped: datetime,
    last: datetime,
    courier: str,
    wh_city: str,
    dest: AddressInput,
    signer: Optional[str],
) -> List[TrackingEvent]:
    dest_city, district = dest.city, dest.district
    dc = _short(dest_city)
    wh = f"{wh_city}市"
    events = [("collected", wh, f"{courier}{wh_city}仓配网点", f"【{wh}】{courier}{wh_city}仓配网点 已揽收")]
    if dc != wh_city:
        events.append(
            ("departed", wh, f"{wh_city}转运中心", f"【{wh}】快件已从 {wh_city}转运中心 发出,下一站 {dc}转运中心")
        )
        events.append(("arrived", dest_city, f"{dc}转运中心", f"【{dest_city}】快件已到达 {dc}转运中心"))
    else:
        events.append(
            (
                "departed",
                wh,
                f"{wh_city}转运中心",
                f"【{wh}】快件已从 {wh_city}转运中心 发出,下一站 {dc}{district}营业部",
            )
        )
    events.append(("arrived", dest_city, f"{dc}{district}营业部", f"【{dest_city}】快件已到达 {dc}{district}营业部"))
    events.append(
        (
            "delivering",
            dest_city,
            f"{dc}{district}营业部",
            f"【{dest_city}】{dc}{district}营业部 快递员正在为您派件,请保持电话畅通",
        )
    )
    signed_text = {
        "本人": "快件已签收,签收人:本人。感谢使用{c},期待再次为您服务",
        "家人": "快件已签收,签收人:家人。如有疑问请联系派件快递员",
        "驿站": "快件已由 {d}菜鸟驿站 代收,请凭取件码及时取件",
        "快递柜": "快件已投递至 丰巢智能快递柜,请凭取件码及时取件",
        "前台": "快件已签收,签收人:前台",
        "门卫": "快件已签收,签收人:门卫",
        "同事": "快件已签收,签收人:同事",
    }
    if signer:
        text = signed_text.get(signer, "快件已签收,签收人:" + signer).format(c=courier, d=district)
        events.append(("signed", dest_city, f"{dc}{district}营业部", f"【{dest_city}】{text}"))
    if stage == "collected":
        events = events[:1]
    elif stage == "in_transit":
        # somewhere between leaving the warehouse and reaching the local station
        events = events[: rng.randint(2, len(events) - 2)]
    elif stage == "delivering":
        events = [e for e in events if e[0] != "signed"]
    n = len(events)
    times = [shipped]
    if n > 1:
        inner = sorted(rng.uniform(0.1, 0.9) for _ in range(n - 2))
        times += [shipped + (last - shipped) * m for m in inner] + [last]
    return [
        TrackingEvent(at=_sec(at), city=city, station=station, text=text, code=code)
        for (code, city, station, text), at in zip(events, times, strict=False)
    ]


def _items(rng: random.Random, products: Sequence[Product], created: datetime) -> Tuple[List[OrderItem], Decimal]:
    n = rng.choices([1, 2, 3], weights=[75, 20, 5])[0]
    chosen = rng.sample(list(products), n)
    items, discount = [], Decimal("0")
    for p in chosen:
        sku = rng.choice(p.skus)
        qty = rng.choices([1, 2], weights=[85, 15])[0]
        active = p.promotion is not None and p.promotion.active(created)
        unit = sku.promo_price if active and sku.promo_price is not None else sku.price
        item = OrderItem(
            product_id=p.product_id,
            sku_id=sku.sku_id,
            name=p.name,
            spec=sku.spec,
            qty=qty,
            unit_price=unit,
            weight_g=p.weight_g,
            free_shipping=p.free_shipping,
        )
        items.append(item)
        if active and p.promotion.coupon and item.amount >= p.promotion.coupon.threshold:
            discount += p.promotion.coupon.amount
    return items, yuan(discount)


def make_orders(
    rng: random.Random,
    store: StoreConfig,
    products: Sequence[Product],
    buyers: Sequence[BuyerInput],
    now: datetime,
    tz: str = DEFAULT_TZ,
) -> List[Tuple[Order, AddressInput]]:
    specs = [(st, fl) for st, fl, n in ORDER_PLAN for _ in range(n)]
    rng.shuffle(specs)
    plans = []
    for i, (st, fl) in enumerate(specs):
        plans.append(_Plan(st, fl, buyers[i % len(buyers)], _plan_times(rng, st, fl, now, store.ship_max_hours)))
    # order numbers follow the order of creation, like a real shop's
    plans.sort(key=lambda p: (p.times["created"], p.buyer.buyer_id))
    used, serial_by_day = set(), {}
    for p in plans:
        if rng.random() < 0.6:
            day = p.times["created"].astimezone(zone(tz)).date()
            serial_by_day[day] = serial_by_day.get(day, 0) + 1
            oid = dd_order_id(day, serial_by_day[day])
        else:
            oid = numeric_order_id(rng, rng.choice([16, 18, 19]))
            while oid in used:
                oid = numeric_order_id(rng, 19)
        used.add(oid)
        p.order_id = oid
    return [_build(rng, store, products, p, now) for p in plans]


def _build(
    rng: random.Random, store: StoreConfig, products: Sequence[Product], plan: _Plan, now: datetime
) -> Tuple[Order, AddressInput]:
    t = plan.times
    address = rng.choice(plan.buyer.addresses)
    items, discount = _items(rng, products, t["created"])
    pick = rng.choices([c for c, _ in COURIER_CHOICES], weights=[w for _, w in COURIER_CHOICES])[0]
    courier = store.default_courier if pick == "default" else (store.canonical_courier(pick) or store.default_courier)
    quote = shipping_fee(store, destination=address.city, items=items, courier=courier)
    if not quote.available:
        courier = store.default_courier
        quote = shipping_fee(store, destination=address.city, items=items, courier=courier)
    goods = yuan(sum((i.amount for i in items), yuan(0)))
    fee = quote.fee or yuan(0)
    created = t["created"]
    order = Order(
        order_id=plan.order_id,
        buyer_id=plan.buyer.buyer_id,
        status=S.UNPAID,
        items=tuple(items),
        goods_amount=goods,
        shipping_fee=fee,
        discount=discount,
        total=yuan(goods + fee - discount),
        ship_to=masked_address(address),
        created_at=created,
        updated_at=created,
        buyer_note=rng.choice(BUYER_NOTES) if rng.random() < 0.12 else "",
        events=(OrderEvent(EVENT_CREATED, plan.order_id, created, "buyer", None, S.UNPAID),),
    )

    def step(o: Order, status: OrderStatus, at: datetime, by: str, note: str = "", **details) -> Order:
        return apply(o, transition(o, status, at=at, by=by, note=note, **details))

    if plan.status == S.CANCELLED:
        return step(
            order, S.CANCELLED, t["cancelled"], "buyer", rng.choice(["不想要了", "拍错了", "重新下单"])
        ), address
    if "closed" in t and "paid" not in t:
        return step(order, S.CLOSED, t["closed"], "system", "超时未付款,交易自动关闭"), address
    if "paid" not in t:
        return order, address
    order = step(order, S.PAID, t["paid"], "buyer")
    tracking: List[TrackingEvent] = []
    if "shipped" in t:
        wh = store.warehouse_for(address.city)
        signer = None
        if t.get("stage") == "signed":
            if plan.flavour == "others":
                signer = rng.choice(SIGNERS_OTHERS)
            else:
                signer = "本人" if rng.random() < 0.8 else rng.choice(SIGNERS_OTHERS)
        tracking = _tracking(rng, str(t["stage"]), t["shipped"], t["last"], courier, wh.city, address, signer)
        for ev in tracking:
            if ev.code == "collected":
                order = step(order, S.SHIPPED, ev.at, "store", courier=courier, tracking_no=_tracking_no(rng, courier))
            elif ev.code == "departed":
                order = step(order, S.IN_TRANSIT, ev.at, "courier")
            elif ev.code == "delivering":
                order = step(order, S.OUT_FOR_DELIVERY, ev.at, "courier")
            elif ev.code == "signed":
                order = step(order, S.DELIVERED, ev.at, "courier", signed_by=signer)
    if "completed" in t:
        order = step(order, S.COMPLETED, t["completed"], rng.choice(["buyer", "system"]))
    if "refund_requested" in t:
        shipped = order.status != S.PAID
        reason = "non_quality" if not shipped or rng.random() < 0.6 else "quality"
        note = rng.choice(
            ["尺码/型号拍错了", "不想要了", "和描述不符"]
            if reason == "non_quality"
            else ["充电时发烫严重", "收到时外壳有裂痕", "用了两天就充不进电"]
        )
        order = step(
            order, S.REFUND_REQUESTED, t["refund_requested"], "buyer", note, reason=reason, refund_only=not shipped
        )
    if "returning" in t:
        return_courier = store.default_courier
        order = step(
            order,
            S.RETURNING,
            t["returning"],
            "buyer",
            "买家已寄回",
            return_courier=return_courier,
            return_tracking_no=_tracking_no(rng, return_courier),
        )
    if "refunded" in t:
        order = step(order, S.REFUNDED, t["refunded"], "store", amount=str(order.total))
    if "closed" in t:
        order = step(order, S.CLOSED, t["closed"], "system", "退款成功,交易关闭")
    return replace(order, tracking=tuple(tracking)), address


# ---- the whole store ----------------------------------------------------------------------


def build_demo(
    seed: int = 42,
    now: Optional[datetime] = None,
    store: Optional[StoreConfig] = None,
    catalogue: Optional[Path] = None,
) -> ShopData:
    """The demo store as data; deterministic for the same seed, now and input files."""
    store = store or get_store()
    now = _sec(now or utcnow()).astimezone(timezone.utc)
    rng = random.Random(seed)
    products = load_catalogue(now, catalogue, store.timezone)
    buyers = make_buyers(rng, now)
    orders = make_orders(rng, store, products, buyers, now, store.timezone)
    meta = {META_KEY: json.dumps({"seed": seed, "now": now.isoformat()}, ensure_ascii=False)}
    return ShopData(products=products, buyers=buyers, orders=orders, meta=meta)


class NotDemoDatabase(RuntimeError):
    pass


async def write_demo(shop: SqlShop, data: ShopData, *, force: bool = False) -> None:
    """Replace the demo data; refuse to wipe orders this command did not create unless `force`."""
    if not force and await shop.get_meta(META_KEY) is None:
        counts = await shop.count_rows()
        if counts.get("shop_orders") or counts.get("shop_buyers"):
            raise NotDemoDatabase(f"{shop.url} holds shop data that is not demo data; use --force to replace it")
    await shop.load(data, replace=True)


def orders_json(orders: Sequence[Order]) -> str:
    ordered = sorted(orders, key=lambda o: (o.created_at, o.order_id))
    return json.dumps([to_jsonable(o) for o in ordered], ensure_ascii=False, indent=1, sort_keys=True)


def _flag(order: Order, now: datetime, store: StoreConfig) -> str:
    if is_shipment_delayed(order, now, store):
        return "发货超时"
    if is_transit_stalled(order, now, stall_hours(store)):
        return "物流停滞"
    if order.status == S.DELIVERED and order.signed_by and order.signed_by != "本人":
        return f"{order.signed_by}签收"
    return ""


_SHOWCASE = (
    S.PAID,
    S.IN_TRANSIT,
    S.DELIVERED,
    S.UNPAID,
    S.OUT_FOR_DELIVERY,
    S.COMPLETED,
    S.SHIPPED,
    S.REFUND_REQUESTED,
    S.RETURNING,
    S.REFUNDED,
    S.CANCELLED,
    S.CLOSED,
)


def summary(data: ShopData, store: StoreConfig, now: datetime, url: str, per_buyer: int = 5) -> str:
    by_buyer: Dict[str, List[Order]] = {}
    for o, _ in data.orders:
        by_buyer.setdefault(o.buyer_id, []).append(o)
    local = now.astimezone(zone(store.timezone))
    lines = [
        f"{store.name} demo data: {len(data.products)} products, {len(data.buyers)} buyers, "
        f"{len(data.orders)} orders (now {local:%Y-%m-%d %H:%M %z}) -> {url}",
        "Chat as a buyer (REST channel, buyer id in metadata):",
        '  curl -s localhost:5005/webhooks/rest/webhook -H "Content-Type: application/json" '
        '-d \'{"sender":"dev1","message":"我的订单","metadata":{"buyer_id":"buyer_001"}}\'',
        "",
    ]
    for b in data.buyers:
        orders = by_buyer.get(b.buyer_id, [])
        title = surname_of(b.name) + b.gender.title
        lines.append(
            f"{b.buyer_id:<12} {title:<5} {mask_phone(b.phone)}  {mask_address(b.addresses[0])}  ({len(orders)} orders)"
        )
        flagged = [o for o in orders if _flag(o, now, store)]
        rest = sorted(
            (o for o in orders if o not in flagged),
            key=lambda o: (_SHOWCASE.index(o.status), -o.created_at.timestamp()),
        )
        shown, seen = [], set()
        for o in flagged + rest:
            if len(shown) >= per_buyer:
                break
            key = (o.status, _flag(o, now, store))
            if key in seen:
                continue
            seen.add(key)
            shown.append(o)
        for o in shown:
            flag = _flag(o, now, store)
            lines.append(f"    {o.order_id:<20} {o.status.label_zh:<5} {o.status.value:<17} {flag}")
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m shop.demo", description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--now", help="ISO date/time the data is relative to (store-local without offset); default now")
    ap.add_argument("--db", help="database URL (default $XIAOER_SHOP_DB_URL or var/shop.db)")
    ap.add_argument("--json", action="store_true", help="print all orders as JSON instead of the buyer list")
    ap.add_argument("--force", action="store_true", help="replace shop data that was not created by this command")
    ap.add_argument("--catalogue", type=Path, help="catalogue YAML (default shop/demo_catalogue.yml)")
    args = ap.parse_args(argv)
    store = get_store()
    now = parse_when(args.now, store.timezone) if args.now else utcnow()
    data = build_demo(args.seed, now, store, args.catalogue)
    now = datetime.fromisoformat(json.loads(data.meta[META_KEY])["now"])

    async def run() -> str:
        shop = SqlShop(args.db)
        try:
            await write_demo(shop, data, force=args.force)
            if args.json:
                return orders_json(await shop.all_orders())
            return summary(data, store, now, str(shop))
        finally:
            await shop.close()

    try:
        out = asyncio.run(run())
    except NotDemoDatabase as e:
        print(f"shop.demo: {e}", file=sys.stderr)
        return 2
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
