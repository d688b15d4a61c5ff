"""Rows to models: the catalogue, addresses, records and orders (with their items,
tracking and events) as `shop.models` objects. An order leaves with its address masked."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any, Dict, List, Optional

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from shop.masking import masked_address
from shop.models import (
    AddressInput,
    Coupon,
    FaqEntry,
    Order,
    OrderItem,
    Product,
    Promotion,
    Record,
    RecordKind,
    RecordState,
    Sku,
    TrackingEvent,
    fen_to_yuan,
    yuan_to_fen,
)
from shop.sql.schema import _ORDER_TIMES, events_t, items_t, orders_t, products_t, skus_t, tracking_t
from shop.status import OrderEvent, OrderStatus

S = OrderStatus


def _json_dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _fen(v) -> Optional[int]:
    return None if v is None else yuan_to_fen(v)


def _yuan(v) -> Optional[Any]:
    return None if v is None else fen_to_yuan(v)


def product(row, sku_rows) -> Product:
    skus = tuple(
        Sku(
            sku_id=s["sku_id"],
            product_id=s["product_id"],
            color=s["color"],
            size=s["size"],
            price=fen_to_yuan(s["price_fen"]),
            stock=s["stock"],
            promo_price=_yuan(s["promo_price_fen"]),
            restock_date=s["restock_date"],
        )
        for s in sku_rows
    )
    promo = None
    if row["promo_name"] and row["promo_ends_at"]:
        coupon = None
        if row["coupon_threshold_fen"] is not None and row["coupon_amount_fen"]:
            coupon = Coupon(fen_to_yuan(row["coupon_threshold_fen"]), fen_to_yuan(row["coupon_amount_fen"]))
        starts = row["promo_starts_at"] or datetime.min.replace(tzinfo=timezone.utc)
        promo = Promotion(row["promo_name"], starts, row["promo_ends_at"], coupon)
    faq = tuple(FaqEntry(str(f.get("q", "")), str(f.get("a", ""))) for f in (row["faq"] or []))
    price = min((s.price for s in skus), default=fen_to_yuan(0))
    return Product(
        product_id=row["product_id"],
        name=row["name"],
        category=row["category"],
        price=price,
        free_shipping=bool(row["free_shipping"]),
        weight_g=row["weight_g"],
        skus=skus,
        promotion=promo,
        specs=dict(row["specs"] or {}),
        faq=faq,
        description=row["description"] or "",
    )


def address(row) -> AddressInput:
    return AddressInput(
        recipient=row["recipient"],
        phone=row["phone"],
        province=row["province"],
        city=row["city"],
        district=row["district"],
        detail=row["detail"],
    )


def record(row) -> Record:
    return Record(
        record_id=row["id"],
        kind=RecordKind(row["kind"]),
        buyer_id=row["buyer_id"],
        order_id=row["order_id"],
        created_at=row["created_at"],
        state=RecordState(row["state"]),
        text=row["text"] or "",
        data=dict(row["data"] or {}),
        due_at=row["due_at"],
        conversation_id=row["conversation_id"],
        closed_at=row["closed_at"],
    )


async def products_where(conn: AsyncConnection, where=None) -> List[Product]:
    q = sa.select(products_t).order_by(products_t.c.position, products_t.c.product_id)
    if where is not None:
        q = q.where(where)
    rows = (await conn.execute(q)).mappings().all()
    if not rows:
        return []
    ids = [r["product_id"] for r in rows]
    sku_rows = (
        (
            await conn.execute(
                sa.select(skus_t).where(skus_t.c.product_id.in_(ids)).order_by(skus_t.c.position, skus_t.c.sku_id)
            )
        )
        .mappings()
        .all()
    )
    by_product: Dict[str, list] = {}
    for s in sku_rows:
        by_product.setdefault(s["product_id"], []).append(s)
    return [product(r, by_product.get(r["product_id"], [])) for r in rows]


async def orders_where(
    conn: AsyncConnection, where, *, limit: Optional[int] = None, newest_first: bool = True, for_update: bool = False
) -> List[Order]:
    q = sa.select(orders_t).where(where)
    if newest_first:
        q = q.order_by(orders_t.c.created_at.desc(), orders_t.c.order_id.desc())
    else:
        q = q.order_by(orders_t.c.created_at, orders_t.c.order_id)
    if limit:
        q = q.limit(limit)
    if for_update:
        q = q.with_for_update()
    rows = (await conn.execute(q)).mappings().all()
    if not rows:
        return []
    ids = [r["order_id"] for r in rows]
    grouped: Dict[str, Dict[str, list]] = {i: {"items": [], "tracking": [], "events": []} for i in ids}
    for key, table, order_by in (
        ("items", items_t, items_t.c.position),
        ("tracking", tracking_t, tracking_t.c.at),
        ("events", events_t, events_t.c.at),
    ):
        # ids are chunked: PostgreSQL and SQLite limit the number of bound parameters
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            res = await conn.execute(
                sa.select(table).where(table.c.order_id.in_(chunk)).order_by(table.c.order_id, order_by, table.c.id)
            )
            for r in res.mappings():
                grouped[r["order_id"]][key].append(r)
    return [order(r, grouped[r["order_id"]]) for r in rows]


def order(r, children) -> Order:
    items = tuple(
        OrderItem(
            product_id=i["product_id"],
            sku_id=i["sku_id"],
            name=i["name"],
            spec=i["spec"],
            qty=i["qty"],
            unit_price=fen_to_yuan(i["unit_price_fen"]),
            weight_g=i["weight_g"],
            free_shipping=bool(i["free_shipping"]),
        )
        for i in children["items"]
    )
    tracking = tuple(
        TrackingEvent(at=t["at"], city=t["city"], station=t["station"], text=t["text"], code=t["code"] or "")
        for t in children["tracking"]
    )
    events = tuple(
        OrderEvent(
            name=e["name"],
            order_id=e["order_id"],
            at=e["at"],
            by=e["by"],
            from_status=S(e["from_status"]) if e["from_status"] else None,
            to_status=S(e["to_status"]) if e["to_status"] else None,
            note=e["note"] or "",
            details=dict(e["details"] or {}),
        )
        for e in children["events"]
    )
    return Order(
        order_id=r["order_id"],
        buyer_id=r["buyer_id"],
        status=S(r["status"]),
        items=items,
        goods_amount=fen_to_yuan(r["goods_fen"]),
        shipping_fee=fen_to_yuan(r["shipping_fen"]),
        discount=fen_to_yuan(r["discount_fen"]),
        total=fen_to_yuan(r["total_fen"]),
        ship_to=masked_address(address(r)),
        created_at=r["created_at"],
        updated_at=r["updated_at"],
        **{n: r[n] for n in _ORDER_TIMES},
        courier=r["courier"],
        tracking_no=r["tracking_no"],
        signed_by=r["signed_by"],
        buyer_note=r["buyer_note"] or "",
        tracking=tracking,
        events=events,
    )
