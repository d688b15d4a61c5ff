"""The store-side operations a real order system would do itself (create orders, ship,
add tracking, bulk load): the demo generator and the tests use them, the assistant does not.
`StoreSide` is mixed into `SqlShop` and uses its connection helpers (`_conn`, `_at`, `_apply`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from shop.errors import NotFound
from shop.ids import normalize_order_id
from shop.masking import masked_address
from shop.models import (
    AddressInput,
    Buyer,
    BuyerInput,
    Gender,
    Order,
    OrderItem,
    Product,
    TrackingEvent,
    fen_to_yuan,
    yuan,
)
from shop.sql import rows
from shop.sql.rows import _fen
from shop.sql.schema import (
    _ORDER_TIMES,
    ALL_TABLES,
    addresses_t,
    buyers_t,
    events_t,
    items_t,
    meta_t,
    orders_t,
    products_t,
    skus_t,
    tracking_t,
)
from shop.status import EVENT_CREATED, OrderEvent, OrderStatus, transition

S = OrderStatus


@dataclass
class ShopData:
    """Everything `SqlShop.load` writes: catalogue, buyers with full personal data,
    orders (masked view) with the full delivery address of each."""

    products: List[Product] = field(default_factory=list)
    buyers: List[BuyerInput] = field(default_factory=list)
    orders: List[Tuple[Order, AddressInput]] = field(default_factory=list)
    meta: Dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class FollowUpOrder:
    """What the follow-up scan reads of an order (followup/scheduler.py)."""

    order_id: str
    buyer_id: str
    status: str
    created_at: datetime
    delivered_at: Optional[datetime]
    completed_at: Optional[datetime]


class StoreSide:
    """Store-side operations of `SqlShop` (see the module's docstring)."""

    async def all_orders(self) -> List[Order]:
        """Every order, oldest first (tooling: `python -m shop.demo --json`)."""
        async with self._conn() as conn:
            return await rows.orders_where(conn, sa.true(), newest_first=False)

    async def follow_up_orders(self, since: datetime) -> List[FollowUpOrder]:
        """The orders a follow-up may still be due for, oldest first: unpaid ones created since
        `since`, delivered or completed ones since then. The order rows only (no items, tracking
        or events): the desk's follow-up scan reads them every minute (issue 11)."""
        o = orders_t.c
        q = (
            sa.select(o.order_id, o.buyer_id, o.status, o.created_at, o.delivered_at, o.completed_at)
            .where(
                sa.or_(
                    sa.and_(o.status == S.UNPAID.value, o.created_at >= since),
                    sa.and_(
                        o.status.in_((S.DELIVERED.value, S.COMPLETED.value)),
                        sa.or_(o.delivered_at >= since, o.completed_at >= since),
                    ),
                )
            )
            .order_by(o.created_at, o.order_id)
        )
        async with self._conn() as conn:
            return [FollowUpOrder(**r) for r in (await conn.execute(q)).mappings()]

    async def buyer_ids(self) -> List[str]:
        async with self._conn() as conn:
            return list((await conn.execute(sa.select(buyers_t.c.buyer_id).order_by(buyers_t.c.buyer_id))).scalars())

    async def get_meta(self, key: str) -> Optional[str]:
        async with self._conn() as conn:
            return (await conn.execute(sa.select(meta_t.c.value).where(meta_t.c.key == key))).scalar()

    async def count_rows(self) -> Dict[str, int]:
        async with self._conn() as conn:
            out = {}
            for t in ALL_TABLES:
                out[t.name] = int((await conn.execute(sa.select(sa.func.count()).select_from(t))).scalar_one())
            return out

    async def put_products(self, products: Iterable[Product]) -> None:
        async with self._conn(write=True) as conn:
            for pos, p in enumerate(products):
                await conn.execute(skus_t.delete().where(skus_t.c.product_id == p.product_id))
                await conn.execute(products_t.delete().where(products_t.c.product_id == p.product_id))
                await self._insert_products(conn, [p], start=pos)

    async def put_buyer(self, buyer: BuyerInput) -> Buyer:
        async with self._conn(write=True) as conn:
            await conn.execute(addresses_t.delete().where(addresses_t.c.buyer_id == buyer.buyer_id))
            await conn.execute(buyers_t.delete().where(buyers_t.c.buyer_id == buyer.buyer_id))
            await self._insert_buyers(conn, [buyer])
        found = await self.get_buyer(buyer.buyer_id)
        assert found is not None
        return found

    async def create_order(
        self,
        *,
        order_id: str,
        buyer_id: str,
        items: Sequence[Tuple[str, int]],
        address: Optional[AddressInput] = None,
        at: Optional[datetime] = None,
        shipping_fee: Any = 0,
        discount: Any = 0,
        buyer_note: str = "",
    ) -> Order:
        """A new unpaid order of (sku_id, qty) lines at today's (promotion) prices."""
        at = self._at(at)
        oid = normalize_order_id(order_id)
        if not oid:
            raise ValueError(f"not an order number: {order_id!r}")
        async with self._conn(write=True) as conn:
            if address is None:
                row = (
                    (
                        await conn.execute(
                            sa.select(addresses_t)
                            .where(addresses_t.c.buyer_id == buyer_id)
                            .order_by(addresses_t.c.position, addresses_t.c.id)
                        )
                    )
                    .mappings()
                    .first()
                )
                if row is None:
                    raise NotFound(f"buyer {buyer_id!r} has no address")
                address = rows.address(row)
            lines = []
            for sku_id, qty in items:
                sku = (await conn.execute(sa.select(skus_t).where(skus_t.c.sku_id == sku_id))).mappings().first()
                if sku is None:
                    raise NotFound(f"sku {sku_id!r} not found")
                product = (await rows.products_where(conn, products_t.c.product_id == sku["product_id"]))[0]
                promo = product.promotion
                unit = (
                    sku["promo_price_fen"]
                    if promo and promo.active(at) and sku["promo_price_fen"]
                    else sku["price_fen"]
                )
                lines.append(
                    OrderItem(
                        product_id=product.product_id,
                        sku_id=sku_id,
                        name=product.name,
                        spec=" / ".join(p for p in (sku["color"], sku["size"]) if p),
                        qty=int(qty),
                        unit_price=fen_to_yuan(unit),
                        weight_g=product.weight_g,
                        free_shipping=product.free_shipping,
                    )
                )
            goods = yuan(sum((i.amount for i in lines), yuan(0)))
            order = Order(
                order_id=oid,
                buyer_id=buyer_id,
                status=S.UNPAID,
                items=tuple(lines),
                goods_amount=goods,
                shipping_fee=yuan(shipping_fee),
                discount=yuan(discount),
                total=yuan(goods + yuan(shipping_fee) - yuan(discount)),
                ship_to=masked_address(address),
                created_at=at,
                updated_at=at,
                buyer_note=buyer_note,
                events=(OrderEvent(EVENT_CREATED, oid, at, "buyer", None, S.UNPAID),),
            )
            await self._insert_orders(conn, [(order, address)])
        return order

    async def advance(
        self,
        order_id: str,
        new_status: OrderStatus,
        *,
        at: Optional[datetime] = None,
        by: str = "store",
        note: str = "",
        **details: Any,
    ) -> Order:
        """Store-side status change (pay, ship, deliver, refund ...) through `transition()`."""
        at = self._at(at)
        oid = normalize_order_id(order_id)
        async with self._conn(write=True) as conn:
            found = await rows.orders_where(conn, orders_t.c.order_id == (oid or ""), for_update=True)
            if not found:
                raise NotFound(f"order {order_id!r} not found")
            return await self._apply(
                conn, found[0], transition(found[0], new_status, at=at, by=by, note=note, **details)
            )

    async def add_tracking(self, order_id: str, event: TrackingEvent) -> None:
        oid = normalize_order_id(order_id)
        async with self._conn(write=True) as conn:
            await conn.execute(
                tracking_t.insert().values(
                    order_id=oid,
                    at=self._at(event.at),
                    city=event.city,
                    station=event.station,
                    text=event.text,
                    code=event.code,
                )
            )

    async def load(self, data: ShopData, *, replace: bool = True) -> None:
        """Bulk-write a whole store in one transaction; `replace` empties the shop tables first."""
        async with self._conn(write=True) as conn:
            if replace:
                for t in ALL_TABLES:
                    await conn.execute(t.delete())
            await self._insert_products(conn, data.products)
            await self._insert_buyers(conn, data.buyers)
            await self._insert_orders(conn, data.orders)
            if data.meta:
                await conn.execute(meta_t.delete().where(meta_t.c.key.in_(list(data.meta))))
                await conn.execute(meta_t.insert(), [{"key": k, "value": v} for k, v in data.meta.items()])

    @staticmethod
    async def _insert_products(conn: AsyncConnection, products: Sequence[Product], start: int = 0) -> None:
        prows, srows = [], []
        for pos, p in enumerate(products, start=start):
            promo, coupon = p.promotion, p.promotion.coupon if p.promotion else None
            prows.append(
                dict(
                    product_id=p.product_id,
                    position=pos,
                    name=p.name,
                    category=p.category,
                    free_shipping=p.free_shipping,
                    weight_g=p.weight_g,
                    description=p.description,
                    specs=dict(p.specs),
                    faq=[{"q": f.q, "a": f.a} for f in p.faq],
                    promo_name=promo.name if promo else None,
                    promo_starts_at=promo.starts_at if promo else None,
                    promo_ends_at=promo.ends_at if promo else None,
                    coupon_threshold_fen=_fen(coupon.threshold) if coupon else None,
                    coupon_amount_fen=_fen(coupon.amount) if coupon else None,
                )
            )
            for spos, s in enumerate(p.skus):
                srows.append(
                    dict(
                        sku_id=s.sku_id,
                        product_id=p.product_id,
                        position=spos,
                        color=s.color,
                        size=s.size,
                        price_fen=_fen(s.price),
                        promo_price_fen=_fen(s.promo_price),
                        stock=s.stock,
                        restock_date=s.restock_date,
                    )
                )
        if prows:
            await conn.execute(products_t.insert(), prows)
        if srows:
            await conn.execute(skus_t.insert(), srows)

    @staticmethod
    async def _insert_buyers(conn: AsyncConnection, buyers: Sequence[BuyerInput]) -> None:
        brows, arows = [], []
        for b in buyers:
            brows.append(
                dict(
                    buyer_id=b.buyer_id,
                    name=b.name,
                    gender=Gender(b.gender).value,
                    phone=b.phone,
                    created_at=b.created_at,
                )
            )
            for pos, a in enumerate(b.addresses):
                arows.append(
                    dict(
                        buyer_id=b.buyer_id,
                        position=pos,
                        recipient=a.recipient,
                        phone=a.phone,
                        province=a.province,
                        city=a.city,
                        district=a.district,
                        detail=a.detail,
                    )
                )
        if brows:
            await conn.execute(buyers_t.insert(), brows)
        if arows:
            await conn.execute(addresses_t.insert(), arows)

    @staticmethod
    async def _insert_orders(conn: AsyncConnection, orders: Sequence[Tuple[Order, AddressInput]]) -> None:
        orows, irows, trows, erows = [], [], [], []
        for o, a in orders:
            orows.append(
                dict(
                    order_id=o.order_id,
                    buyer_id=o.buyer_id,
                    status=o.status.value,
                    created_at=o.created_at,
                    updated_at=o.updated_at,
                    **{n: getattr(o, n) for n in _ORDER_TIMES},
                    goods_fen=_fen(o.goods_amount),
                    shipping_fen=_fen(o.shipping_fee),
                    discount_fen=_fen(o.discount),
                    total_fen=_fen(o.total),
                    recipient=a.recipient,
                    phone=a.phone,
                    province=a.province,
                    city=a.city,
                    district=a.district,
                    detail=a.detail,
                    courier=o.courier,
                    tracking_no=o.tracking_no,
                    signed_by=o.signed_by,
                    buyer_note=o.buyer_note,
                )
            )
            for pos, i in enumerate(o.items):
                irows.append(
                    dict(
                        order_id=o.order_id,
                        position=pos,
                        product_id=i.product_id,
                        sku_id=i.sku_id,
                        name=i.name,
                        spec=i.spec,
                        qty=i.qty,
                        unit_price_fen=_fen(i.unit_price),
                        weight_g=i.weight_g,
                        free_shipping=i.free_shipping,
                    )
                )
            for t in o.tracking:
                trows.append(
                    dict(order_id=o.order_id, at=t.at, city=t.city, station=t.station, text=t.text, code=t.code)
                )
            for e in o.events:
                erows.append(
                    dict(
                        order_id=o.order_id,
                        name=e.name,
                        at=e.at,
                        by=e.by,
                        from_status=e.from_status.value if e.from_status else None,
                        to_status=e.to_status.value if e.to_status else None,
                        note=e.note or "",
                        details=e.details or {},
                    )
                )
        for table, batch in ((orders_t, orows), (items_t, irows), (tracking_t, trows), (events_t, erows)):
            if batch:
                await conn.execute(table.insert(), batch)
