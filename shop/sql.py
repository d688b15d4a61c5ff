"""`SqlShop`: the default `ShopBackend`, SQLAlchemy 1.4 async (SQLite or PostgreSQL).

Tables are prefixed `shop_` so the shop can share a PostgreSQL database with
Rasa's tracker store. Money is stored in fen (integers), times as naive UTC.
Besides the `ShopBackend` API it has the store-side operations a real order
system would do itself (create orders, ship, add tracking, bulk load); the
demo generator and the tests use them, the assistant does not.
"""
from __future__ import annotations

import asyncio
import json
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, AsyncIterator, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool, StaticPool

from shop.backend import ShopBackend
from shop.config import is_sqlite_memory, shop_db_url
from shop.errors import BackendUnavailable, ChangeNotAllowed, NotFound, OrderNotFound, OutOfStock
from shop.ids import normalize_order_id
from shop.masking import mask_address, mask_name, mask_phone, masked_address, surname_of
from shop.models import (
    AddressInput, Buyer, BuyerInput, CancelOutcome, Coupon, FaqEntry, Gender, NoteKind, Order, OrderItem, Product,
    Promotion, Record, RecordKind, RecordState, ReturnReason, Sku, TrackingEvent, fen_to_yuan, photos_tuple, yuan,
    yuan_to_fen,
)
from shop.status import (
    CHANGEABLE_STATES, EVENT_ADDRESS_CHANGED, EVENT_CREATED, EVENT_NOTE_ADDED, EVENT_PHONE_CHANGED,
    EVENT_SPEC_CHANGED, SHIPPED_STATES, TIMESTAMP_FIELD, OrderEvent, OrderStatus, apply, transition,
)
from shop.timeutil import utcnow
from xiaoer.lexicon import PHONE_RE

S = OrderStatus


class UtcDateTime(sa.types.TypeDecorator):
    """Aware datetimes in, aware UTC out; stored naive UTC (SQLite has no time zones)."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the shop database")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        return None if value is None else value.replace(tzinfo=timezone.utc)


metadata = sa.MetaData()
T = UtcDateTime
_str = sa.String

meta_t = sa.Table(
    "shop_meta", metadata,
    sa.Column("key", _str(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)
products_t = sa.Table(
    "shop_products", metadata,
    sa.Column("product_id", _str(32), primary_key=True),
    sa.Column("position", sa.Integer, nullable=False, default=0),
    sa.Column("name", _str(200), nullable=False),
    sa.Column("category", _str(32), nullable=False, index=True),
    sa.Column("free_shipping", sa.Boolean, nullable=False),
    sa.Column("weight_g", sa.Integer, nullable=False),
    sa.Column("description", sa.Text, nullable=False, default=""),
    sa.Column("specs", sa.JSON, nullable=False),
    sa.Column("faq", sa.JSON, nullable=False),
    sa.Column("promo_name", _str(100)),
    sa.Column("promo_starts_at", T),
    sa.Column("promo_ends_at", T),
    sa.Column("coupon_threshold_fen", sa.Integer),
    sa.Column("coupon_amount_fen", sa.Integer),
)
skus_t = sa.Table(
    "shop_skus", metadata,
    sa.Column("sku_id", _str(40), primary_key=True),
    sa.Column("product_id", _str(32), sa.ForeignKey("shop_products.product_id", ondelete="CASCADE"),
              nullable=False, index=True),
    sa.Column("position", sa.Integer, nullable=False, default=0),
    sa.Column("color", _str(16)),
    sa.Column("size", _str(40)),
    sa.Column("price_fen", sa.Integer, nullable=False),
    sa.Column("promo_price_fen", sa.Integer),
    sa.Column("stock", sa.Integer, nullable=False),
    sa.Column("restock_date", sa.Date),
)
buyers_t = sa.Table(
    "shop_buyers", metadata,
    sa.Column("buyer_id", _str(64), primary_key=True),
    sa.Column("name", _str(40), nullable=False),
    sa.Column("gender", _str(1), nullable=False),
    sa.Column("phone", _str(20), nullable=False),
    sa.Column("created_at", T),
)
addresses_t = sa.Table(
    "shop_addresses", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("buyer_id", _str(64), sa.ForeignKey("shop_buyers.buyer_id", ondelete="CASCADE"),
              nullable=False, index=True),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("recipient", _str(40), nullable=False),
    sa.Column("phone", _str(20), nullable=False),
    sa.Column("province", _str(20), nullable=False),
    sa.Column("city", _str(20), nullable=False),
    sa.Column("district", _str(20), nullable=False),
    sa.Column("detail", _str(200), nullable=False),
)
_ORDER_TIMES = ("paid_at", "shipped_at", "delivered_at", "completed_at", "cancelled_at", "refund_requested_at",
                "refunded_at", "closed_at")
orders_t = sa.Table(
    "shop_orders", metadata,
    sa.Column("order_id", _str(32), primary_key=True),
    sa.Column("buyer_id", _str(64), nullable=False),
    sa.Column("status", _str(24), nullable=False, index=True),
    sa.Column("created_at", T, nullable=False),
    sa.Column("updated_at", T, nullable=False),
    *[sa.Column(n, T) for n in _ORDER_TIMES],
    sa.Column("goods_fen", sa.Integer, nullable=False),
    sa.Column("shipping_fen", sa.Integer, nullable=False),
    sa.Column("discount_fen", sa.Integer, nullable=False),
    sa.Column("total_fen", sa.Integer, nullable=False),
    sa.Column("recipient", _str(40), nullable=False),
    sa.Column("phone", _str(20), nullable=False),
    sa.Column("province", _str(20), nullable=False),
    sa.Column("city", _str(20), nullable=False),
    sa.Column("district", _str(20), nullable=False),
    sa.Column("detail", _str(200), nullable=False),
    sa.Column("courier", _str(20)),
    sa.Column("tracking_no", _str(40)),
    sa.Column("signed_by", _str(20)),
    sa.Column("buyer_note", sa.Text, nullable=False, default=""),
    sa.Index("ix_shop_orders_buyer_created", "buyer_id", "created_at"),
)
items_t = sa.Table(
    "shop_order_items", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("order_id", _str(32), sa.ForeignKey("shop_orders.order_id", ondelete="CASCADE"),
              nullable=False, index=True),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("product_id", _str(32), nullable=False),
    sa.Column("sku_id", _str(40), nullable=False),
    sa.Column("name", _str(200), nullable=False),
    sa.Column("spec", _str(80), nullable=False),
    sa.Column("qty", sa.Integer, nullable=False),
    sa.Column("unit_price_fen", sa.Integer, nullable=False),
    sa.Column("weight_g", sa.Integer, nullable=False),
    sa.Column("free_shipping", sa.Boolean, nullable=False),
)
tracking_t = sa.Table(
    "shop_tracking_events", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("order_id", _str(32), sa.ForeignKey("shop_orders.order_id", ondelete="CASCADE"),
              nullable=False, index=True),
    sa.Column("at", T, nullable=False),
    sa.Column("city", _str(20), nullable=False),
    sa.Column("station", _str(60), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("code", _str(20), nullable=False, default=""),
)
events_t = sa.Table(
    "shop_order_events", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("order_id", _str(32), sa.ForeignKey("shop_orders.order_id", ondelete="CASCADE"),
              nullable=False, index=True),
    sa.Column("name", _str(40), nullable=False),
    sa.Column("at", T, nullable=False),
    sa.Column("by", _str(40), nullable=False),
    sa.Column("from_status", _str(24)),
    sa.Column("to_status", _str(24)),
    sa.Column("note", sa.Text, nullable=False, default=""),
    sa.Column("details", sa.JSON, nullable=False),
)
records_t = sa.Table(
    "shop_records", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kind", _str(32), nullable=False, index=True),
    sa.Column("buyer_id", _str(64), index=True),
    sa.Column("order_id", _str(32), index=True),
    sa.Column("created_at", T, nullable=False),
    sa.Column("state", _str(8), nullable=False, index=True),
    sa.Column("text", sa.Text, nullable=False, default=""),
    sa.Column("data", sa.JSON, nullable=False),
    sa.Column("due_at", T),
    sa.Column("conversation_id", _str(128)),
    sa.Column("closed_at", T),
)
# children first: the order to empty tables in
ALL_TABLES = (records_t, events_t, tracking_t, items_t, orders_t, addresses_t, buyers_t, skus_t, products_t, meta_t)


@dataclass
class ShopData:
    """Everything `SqlShop.load` writes: catalogue, buyers with full personal data,
    orders (masked view) with the full delivery address of each."""

    products: List[Product] = field(default_factory=list)
    buyers: List[BuyerInput] = field(default_factory=list)
    orders: List[Tuple[Order, AddressInput]] = field(default_factory=list)
    meta: Dict[str, str] = field(default_factory=dict)


def _json_dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _fen(v) -> Optional[int]:
    return None if v is None else yuan_to_fen(v)


def _yuan(v) -> Optional[Any]:
    return None if v is None else fen_to_yuan(v)


@asynccontextmanager
async def _no_lock() -> AsyncIterator[None]:
    yield


class SqlShop(ShopBackend):
    """`ShopBackend` over SQLAlchemy async. `SqlShop("sqlite+aiosqlite://")` is an in-memory store."""

    def __init__(self, url: Optional[str] = None, *, clock: Callable[[], datetime] = utcnow,
                 echo: bool = False) -> None:
        self.url = shop_db_url(url)
        self._clock = clock
        self._echo = echo
        self._engine: Optional[AsyncEngine] = None
        self._start_lock = asyncio.Lock()
        self._turns: Optional[asyncio.Lock] = asyncio.Lock() if is_sqlite_memory(self.url) else None

    def __repr__(self) -> str:
        return f"SqlShop({make_url(self.url)!r})"

    # ---- lifecycle --------------------------------------------------------------------

    async def start(self) -> None:
        if self._engine is not None:
            return
        async with self._start_lock:
            if self._engine is not None:
                return
            engine = None
            try:
                engine = self._make_engine()
                async with engine.begin() as conn:
                    await conn.run_sync(metadata.create_all)
            except (sa_exc.OperationalError, sa_exc.InterfaceError, OSError) as e:
                if engine is not None:
                    await engine.dispose()
                raise BackendUnavailable(f"shop database unavailable: {e}") from e
            self._engine = engine

    def _make_engine(self) -> AsyncEngine:
        u = make_url(self.url)
        kwargs: Dict[str, Any] = dict(echo=self._echo, future=True, json_serializer=_json_dumps)
        sqlite = u.get_backend_name() == "sqlite"
        # the driver's own transaction handling is off (isolation_level None): we emit BEGIN ourselves
        if sqlite and is_sqlite_memory(self.url):
            # one shared connection, or every session would see its own empty database
            kwargs.update(poolclass=StaticPool, connect_args={"check_same_thread": False, "isolation_level": None})
        elif sqlite:
            Path(u.database).parent.mkdir(parents=True, exist_ok=True)
            # keep connections open: opening one costs ~5 ms per lookup (NullPool is the 1.4 default)
            kwargs.update(connect_args={"timeout": 15, "isolation_level": None}, poolclass=AsyncAdaptedQueuePool,
                          pool_size=5, max_overflow=5)
        else:  # a connection PostgreSQL dropped at its restart is replaced, not used
            kwargs.update(pool_pre_ping=True)
        engine = create_async_engine(self.url, **kwargs)
        if sqlite:
            memory = is_sqlite_memory(self.url)

            @sa.event.listens_for(engine.sync_engine, "connect")
            def _pragmas(dbapi_conn, _record):
                cur = dbapi_conn.cursor()
                cur.execute("PRAGMA foreign_keys=ON")
                if not memory:
                    # the action server reads while the demo command or the desk writes
                    cur.execute("PRAGMA journal_mode=WAL")
                cur.close()

            @sa.event.listens_for(engine.sync_engine, "begin")
            def _begin(conn):
                # A change reads the order, checks the transition, then writes: the write lock must be
                # held from the read on (BEGIN IMMEDIATE), or two concurrent cancellations both pass
                # the check. Reads get a plain BEGIN: one consistent snapshot for their queries.
                conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("shop_write") else "BEGIN")
        return engine

    async def close(self) -> None:
        if self._engine is not None:
            engine, self._engine = self._engine, None
            await engine.dispose()

    @asynccontextmanager
    async def _conn(self, write: bool = False) -> AsyncIterator[AsyncConnection]:
        """A connection in a transaction: committed when `write` and no error, else rolled back.

        PostgreSQL serialises changes of one order through SELECT ... FOR UPDATE; SQLite
        through BEGIN IMMEDIATE; an in-memory SQLite database has a single connection, so
        its users take turns.
        """
        await self.start()
        assert self._engine is not None
        try:
            async with self._turns or _no_lock():
                async with self._engine.connect() as conn:
                    if write:
                        await conn.execution_options(shop_write=True)
                        async with conn.begin():
                            yield conn
                    else:
                        yield conn
        except (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.DisconnectionError,
                ConnectionError, OSError) as e:
            raise BackendUnavailable(f"shop database unavailable: {e}") from e

    def _at(self, at: Optional[datetime]) -> datetime:
        t = at or self._clock()
        if t.tzinfo is None:
            raise ValueError("naive datetime: pass timezone-aware times to the shop backend")
        return t.astimezone(timezone.utc)

    # ---- row -> model ------------------------------------------------------------------

    @staticmethod
    def _product(row, sku_rows) -> Product:
        skus = tuple(
            Sku(sku_id=s["sku_id"], product_id=s["product_id"], color=s["color"], size=s["size"],
                price=fen_to_yuan(s["price_fen"]), stock=s["stock"], promo_price=_yuan(s["promo_price_fen"]),
                restock_date=s["restock_date"])
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
        return Product(product_id=row["product_id"], name=row["name"], category=row["category"], price=price,
                       free_shipping=bool(row["free_shipping"]), weight_g=row["weight_g"], skus=skus,
                       promotion=promo, specs=dict(row["specs"] or {}), faq=faq, description=row["description"] or "")

    @staticmethod
    def _address(row) -> AddressInput:
        return AddressInput(recipient=row["recipient"], phone=row["phone"], province=row["province"],
                            city=row["city"], district=row["district"], detail=row["detail"])

    @staticmethod
    def _record(row) -> Record:
        return Record(record_id=row["id"], kind=RecordKind(row["kind"]), buyer_id=row["buyer_id"],
                      order_id=row["order_id"], created_at=row["created_at"], state=RecordState(row["state"]),
                      text=row["text"] or "", data=dict(row["data"] or {}), due_at=row["due_at"],
                      conversation_id=row["conversation_id"], closed_at=row["closed_at"])

    async def _products_where(self, conn: AsyncConnection, where=None) -> List[Product]:
        q = sa.select(products_t).order_by(products_t.c.position, products_t.c.product_id)
        if where is not None:
            q = q.where(where)
        rows = (await conn.execute(q)).mappings().all()
        if not rows:
            return []
        ids = [r["product_id"] for r in rows]
        sku_rows = (await conn.execute(
            sa.select(skus_t).where(skus_t.c.product_id.in_(ids)).order_by(skus_t.c.position, skus_t.c.sku_id)
        )).mappings().all()
        by_product: Dict[str, list] = {}
        for s in sku_rows:
            by_product.setdefault(s["product_id"], []).append(s)
        return [self._product(r, by_product.get(r["product_id"], [])) for r in rows]

    async def _orders_where(self, conn: AsyncConnection, where, *, limit: Optional[int] = None,
                            newest_first: bool = True, for_update: bool = False) -> List[Order]:
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
        for key, table, order in (("items", items_t, items_t.c.position), ("tracking", tracking_t, tracking_t.c.at),
                                  ("events", events_t, events_t.c.at)):
            # ids are chunked: PostgreSQL and SQLite limit the number of bound parameters
            for start in range(0, len(ids), 500):
                chunk = ids[start:start + 500]
                res = await conn.execute(
                    sa.select(table).where(table.c.order_id.in_(chunk)).order_by(table.c.order_id, order, table.c.id))
                for r in res.mappings():
                    grouped[r["order_id"]][key].append(r)
        return [self._order(r, grouped[r["order_id"]]) for r in rows]

    def _order(self, r, children) -> Order:
        items = tuple(
            OrderItem(product_id=i["product_id"], sku_id=i["sku_id"], name=i["name"], spec=i["spec"], qty=i["qty"],
                      unit_price=fen_to_yuan(i["unit_price_fen"]), weight_g=i["weight_g"],
                      free_shipping=bool(i["free_shipping"]))
            for i in children["items"]
        )
        tracking = tuple(TrackingEvent(at=t["at"], city=t["city"], station=t["station"], text=t["text"],
                                       code=t["code"] or "") for t in children["tracking"])
        events = tuple(
            OrderEvent(name=e["name"], order_id=e["order_id"], at=e["at"], by=e["by"],
                       from_status=S(e["from_status"]) if e["from_status"] else None,
                       to_status=S(e["to_status"]) if e["to_status"] else None,
                       note=e["note"] or "", details=dict(e["details"] or {}))
            for e in children["events"]
        )
        return Order(
            order_id=r["order_id"], buyer_id=r["buyer_id"], status=S(r["status"]), items=items,
            goods_amount=fen_to_yuan(r["goods_fen"]), shipping_fee=fen_to_yuan(r["shipping_fen"]),
            discount=fen_to_yuan(r["discount_fen"]), total=fen_to_yuan(r["total_fen"]),
            ship_to=masked_address(self._address(r)), created_at=r["created_at"], updated_at=r["updated_at"],
            **{n: r[n] for n in _ORDER_TIMES},
            courier=r["courier"], tracking_no=r["tracking_no"], signed_by=r["signed_by"],
            buyer_note=r["buyer_note"] or "", tracking=tracking, events=events,
        )

    # ---- catalogue ---------------------------------------------------------------------

    async def get_product(self, product_id: str) -> Optional[Product]:
        async with self._conn() as conn:
            found = await self._products_where(conn, products_t.c.product_id == str(product_id))
        return found[0] if found else None

    async def find_products(self, *, category: Optional[str] = None, text: Optional[str] = None,
                            color: Optional[str] = None, size: Optional[str] = None,
                            in_stock: Optional[bool] = None, limit: int = 10) -> List[Product]:
        async with self._conn() as conn:
            where = products_t.c.category == category if category else None
            products = await self._products_where(conn, where)
        scored = []
        needle = (text or "").strip().lower()
        for p in products:
            score = 0
            if needle:
                if needle in p.name.lower():
                    score += 3
                if needle in p.category.lower():
                    score += 2
                if any(needle in str(v).lower() for v in p.specs.values()):
                    score += 1
                if any(needle in (s.size or "").lower() for s in p.skus):
                    score += 1
                if score == 0:
                    continue
            if color or size or in_stock is not None:
                skus = p.matching_skus(color, size) if (color or size) else p.skus
                if in_stock:
                    skus = tuple(s for s in skus if not s.sold_out)
                elif in_stock is False:
                    skus = tuple(s for s in skus if s.sold_out)
                if not skus:
                    continue
            scored.append((-score, len(scored), p))
        scored.sort(key=lambda t: (t[0], t[1]))
        return [p for _, _, p in scored[:limit]]

    async def get_sku(self, sku_id: str) -> Optional[Sku]:
        async with self._conn() as conn:
            row = (await conn.execute(sa.select(skus_t).where(skus_t.c.sku_id == str(sku_id)))).mappings().first()
        if row is None:
            return None
        return Sku(sku_id=row["sku_id"], product_id=row["product_id"], color=row["color"], size=row["size"],
                   price=fen_to_yuan(row["price_fen"]), stock=row["stock"], promo_price=_yuan(row["promo_price_fen"]),
                   restock_date=row["restock_date"])

    async def similar_products(self, product_id: str, *, limit: int = 3) -> List[Product]:
        product = await self.get_product(product_id)
        if product is None:
            return []
        same = await self.find_products(category=product.category, in_stock=True, limit=limit + 1)
        return [p for p in same if p.product_id != product.product_id][:limit]

    # ---- buyers -------------------------------------------------------------------------

    async def get_buyer(self, buyer_id: str) -> Optional[Buyer]:
        if not buyer_id:
            return None
        async with self._conn() as conn:
            row = (await conn.execute(sa.select(buyers_t).where(buyers_t.c.buyer_id == buyer_id))).mappings().first()
            if row is None:
                return None
            addr = (await conn.execute(sa.select(addresses_t).where(addresses_t.c.buyer_id == buyer_id)
                                       .order_by(addresses_t.c.position, addresses_t.c.id))).mappings().all()
        return Buyer(buyer_id=row["buyer_id"], surname=surname_of(row["name"]), gender=Gender(row["gender"]),
                     name=mask_name(row["name"]), phone=mask_phone(row["phone"]),
                     addresses=tuple(masked_address(self._address(a)) for a in addr))

    # ---- orders: reads --------------------------------------------------------------------

    async def get_order(self, order_id: str, *, buyer_id: str) -> Optional[Order]:
        oid = normalize_order_id(order_id)
        if not oid or not buyer_id:
            return None
        async with self._conn() as conn:
            found = await self._orders_where(
                conn, sa.and_(orders_t.c.order_id == oid, orders_t.c.buyer_id == buyer_id))
        return found[0] if found else None

    async def recent_orders(self, buyer_id: str, *, limit: int = 5,
                            statuses: Optional[Sequence[OrderStatus]] = None) -> List[Order]:
        if not buyer_id:
            return []
        where = orders_t.c.buyer_id == buyer_id
        if statuses:
            where = sa.and_(where, orders_t.c.status.in_([S(s).value for s in statuses]))
        async with self._conn() as conn:
            return await self._orders_where(conn, where, limit=limit)

    async def _owned(self, conn: AsyncConnection, order_id: str, buyer_id: str) -> Order:
        """The buyer's order, locked for the change; OrderNotFound alike for unknown and foreign."""
        oid = normalize_order_id(order_id)
        if not oid or not buyer_id:
            raise OrderNotFound(order_id)
        found = await self._orders_where(conn, sa.and_(orders_t.c.order_id == oid, orders_t.c.buyer_id == buyer_id),
                                         for_update=True)
        if not found:
            raise OrderNotFound(order_id)
        return found[0]

    # ---- writing helpers ------------------------------------------------------------------

    @staticmethod
    async def _insert_event(conn: AsyncConnection, ev: OrderEvent) -> None:
        await conn.execute(events_t.insert().values(
            order_id=ev.order_id, name=ev.name, at=ev.at, by=ev.by,
            from_status=ev.from_status.value if ev.from_status else None,
            to_status=ev.to_status.value if ev.to_status else None, note=ev.note or "", details=ev.details or {}))

    async def _apply(self, conn: AsyncConnection, order: Order, ev: OrderEvent) -> Order:
        new = apply(order, ev)
        values: Dict[str, Any] = {"status": new.status.value, "updated_at": new.updated_at,
                                  "courier": new.courier, "tracking_no": new.tracking_no, "signed_by": new.signed_by}
        for f in TIMESTAMP_FIELD.values():
            values[f] = getattr(new, f)
        await conn.execute(orders_t.update().where(orders_t.c.order_id == order.order_id).values(**values))
        await self._insert_event(conn, ev)
        return new

    async def _data_event(self, conn: AsyncConnection, order: Order, name: str, at: datetime, by: str,
                          details: Dict[str, Any], note: str = "", **order_values: Any) -> OrderEvent:
        ev = OrderEvent(name=name, order_id=order.order_id, at=at, by=by, note=note, details=details)
        await conn.execute(orders_t.update().where(orders_t.c.order_id == order.order_id)
                           .values(updated_at=max(order.updated_at, at), **order_values))
        await self._insert_event(conn, ev)
        return ev

    async def _insert_record(self, conn: AsyncConnection, kind: RecordKind, *, at: datetime,
                             buyer_id: Optional[str], order_id: Optional[str] = None, text: str = "",
                             data: Optional[Dict[str, Any]] = None, state: RecordState = RecordState.OPEN,
                             due_at: Optional[datetime] = None, conversation_id: Optional[str] = None) -> Record:
        values = dict(kind=kind.value, buyer_id=buyer_id, order_id=order_id, created_at=at, state=state.value,
                      text=text or "", data=data or {}, due_at=due_at, conversation_id=conversation_id,
                      closed_at=at if state == RecordState.DONE else None)
        res = await conn.execute(records_t.insert().values(**values))
        rid = res.inserted_primary_key[0]
        return Record(record_id=rid, kind=kind, buyer_id=buyer_id, order_id=order_id, created_at=at, state=state,
                      text=text or "", data=dict(data or {}), due_at=due_at, conversation_id=conversation_id,
                      closed_at=values["closed_at"])

    @staticmethod
    def _not_changeable(order: Order) -> ChangeNotAllowed:
        if order.status in SHIPPED_STATES:
            reason = "shipped"
        elif order.status in (S.DELIVERED, S.COMPLETED):
            reason = "delivered"
        else:
            reason = "closed"
        return ChangeNotAllowed(order.order_id, order.status, reason)

    @staticmethod
    def _tracking_data(order: Order) -> Dict[str, Any]:
        last = order.latest_tracking
        return {
            "status": order.status.value, "courier": order.courier, "tracking_no": order.tracking_no,
            "last_city": last.city if last else None, "last_station": last.station if last else None,
            "last_event_at": last.at.isoformat() if last else None,
        }

    # ---- orders: changes the buyer asked for -------------------------------------------------

    async def cancel_order(self, order_id: str, *, buyer_id: str, reason: str = "", at: Optional[datetime] = None,
                           conversation_id: Optional[str] = None) -> CancelOutcome:
        at = self._at(at)
        async with self._conn(write=True) as conn:
            order = await self._owned(conn, order_id, buyer_id)
            st = order.status
            if st == S.UNPAID:
                order = await self._apply(conn, order, transition(order, S.CANCELLED, at=at, by="buyer", note=reason))
                rec = await self._insert_record(
                    conn, RecordKind.CANCEL_REQUEST, at=at, buyer_id=buyer_id, order_id=order.order_id, text=reason,
                    data={"outcome": "cancelled", "from_status": st.value}, state=RecordState.DONE,
                    conversation_id=conversation_id)
                return CancelOutcome("cancelled", order, rec)
            if st == S.PAID:
                ev = transition(order, S.REFUND_REQUESTED, at=at, by="buyer", note=reason,
                                reason=ReturnReason.NON_QUALITY.value, refund_only=True)
                order = await self._apply(conn, order, ev)
                rec = await self._insert_record(
                    conn, RecordKind.CANCEL_REQUEST, at=at, buyer_id=buyer_id, order_id=order.order_id, text=reason,
                    data={"outcome": "refund_requested", "from_status": st.value, "refund": str(order.total)},
                    conversation_id=conversation_id)
                return CancelOutcome("refund_requested", order, rec)
        if st in SHIPPED_STATES:
            return CancelOutcome("intercept_or_return", order)
        if st in (S.DELIVERED, S.COMPLETED):
            return CancelOutcome("return", order)
        return CancelOutcome("not_applicable", order)

    async def request_return(self, order_id: str, *, buyer_id: str, reason: ReturnReason, description: str = "",
                             photos: Sequence[str] = (), at: Optional[datetime] = None,
                             conversation_id: Optional[str] = None) -> Record:
        at = self._at(at)
        reason = ReturnReason(reason)
        pics = list(photos_tuple(photos))
        async with self._conn(write=True) as conn:
            order = await self._owned(conn, order_id, buyer_id)
            before = order.status
            ev = transition(order, S.REFUND_REQUESTED, at=at, by="buyer", note=description, reason=reason.value,
                            refund_only=before == S.PAID, photos=pics)
            await self._apply(conn, order, ev)
            return await self._insert_record(
                conn, RecordKind.RETURN_REQUEST, at=at, buyer_id=buyer_id, order_id=order.order_id, text=description,
                data={"reason": reason.value, "photos": pics, "from_status": before.value,
                      "refund_only": before == S.PAID, "amount": str(order.total)},
                conversation_id=conversation_id)

    async def add_photos(self, record_id: int, *, buyer_id: str, photos: Sequence[str],
                         at: Optional[datetime] = None) -> Record:
        at = self._at(at)
        async with self._conn(write=True) as conn:
            row = (await conn.execute(sa.select(records_t).where(sa.and_(
                records_t.c.id == int(record_id), records_t.c.buyer_id == (buyer_id or ""),
                records_t.c.kind == RecordKind.RETURN_REQUEST.value)))).mappings().first()
            if row is None:
                raise NotFound(f"record {record_id!r} not found")
            data = dict(row["data"] or {})
            data["photos"] = list(data.get("photos") or []) + list(photos_tuple(photos))
            data["photos_added_at"] = at.isoformat()
            await conn.execute(records_t.update().where(records_t.c.id == row["id"]).values(data=data))
            return self._record({**row, "data": data})

    async def change_address(self, order_id: str, *, buyer_id: str, address: AddressInput,
                             at: Optional[datetime] = None, conversation_id: Optional[str] = None) -> Record:
        at = self._at(at)
        async with self._conn(write=True) as conn:
            order = await self._owned(conn, order_id, buyer_id)
            if order.status not in CHANGEABLE_STATES:
                raise self._not_changeable(order)
            old, new = order.ship_to.text, mask_address(address)
            details = {"from": old, "to": new}
            await self._data_event(conn, order, EVENT_ADDRESS_CHANGED, at, "buyer", details,
                                   recipient=address.recipient, phone=address.phone, province=address.province,
                                   city=address.city, district=address.district, detail=address.detail)
            return await self._insert_record(
                conn, RecordKind.ADDRESS_CHANGE, at=at, buyer_id=buyer_id, order_id=order.order_id,
                data=details, state=RecordState.DONE, conversation_id=conversation_id)

    async def change_phone(self, order_id: str, *, buyer_id: str, phone: str, at: Optional[datetime] = None,
                           conversation_id: Optional[str] = None) -> Record:
        at = self._at(at)
        digits = str(phone).replace(" ", "").replace("-", "")
        if not PHONE_RE.fullmatch(digits):
            raise ValueError("not a mainland mobile number")
        async with self._conn(write=True) as conn:
            order = await self._owned(conn, order_id, buyer_id)
            if order.status not in CHANGEABLE_STATES:
                raise self._not_changeable(order)
            details = {"from": order.ship_to.phone, "to": mask_phone(digits)}
            await self._data_event(conn, order, EVENT_PHONE_CHANGED, at, "buyer", details, phone=digits)
            return await self._insert_record(
                conn, RecordKind.PHONE_CHANGE, at=at, buyer_id=buyer_id, order_id=order.order_id, data=details,
                state=RecordState.DONE, conversation_id=conversation_id)

    async def change_spec(self, order_id: str, *, buyer_id: str, new_sku_id: str, old_sku_id: Optional[str] = None,
                          at: Optional[datetime] = None, conversation_id: Optional[str] = None) -> Record:
        at = self._at(at)
        async with self._conn(write=True) as conn:
            order = await self._owned(conn, order_id, buyer_id)
            if order.status not in CHANGEABLE_STATES:
                raise self._not_changeable(order)
            new = (await conn.execute(sa.select(skus_t).where(skus_t.c.sku_id == new_sku_id))).mappings().first()
            if new is None:
                raise NotFound(f"sku {new_sku_id!r} not found")
            lines = [(i, it) for i, it in enumerate(order.items) if it.product_id == new["product_id"]
                     and (old_sku_id is None or it.sku_id == old_sku_id)]
            if not lines:
                raise ChangeNotAllowed(order.order_id, order.status, "other_product")
            if len(lines) > 1:
                raise ChangeNotAllowed(order.order_id, order.status, "ambiguous_line")
            pos, line = lines[0]
            if line.sku_id == new["sku_id"]:
                raise ChangeNotAllowed(order.order_id, order.status, "same_sku")
            old = (await conn.execute(sa.select(skus_t).where(skus_t.c.sku_id == line.sku_id))).mappings().first()
            if old is not None and old["price_fen"] != new["price_fen"]:
                raise ChangeNotAllowed(order.order_id, order.status, "price_differs")
            if new["stock"] < line.qty:
                raise OutOfStock(new["sku_id"], new["restock_date"])
            new_spec = " / ".join(p for p in (new["color"], new["size"]) if p)
            await conn.execute(skus_t.update().where(skus_t.c.sku_id == new["sku_id"])
                               .values(stock=skus_t.c.stock - line.qty))
            if old is not None:
                await conn.execute(skus_t.update().where(skus_t.c.sku_id == old["sku_id"])
                                   .values(stock=skus_t.c.stock + line.qty))
            await conn.execute(items_t.update().where(sa.and_(items_t.c.order_id == order.order_id,
                                                              items_t.c.position == pos))
                               .values(sku_id=new["sku_id"], spec=new_spec))
            details = {"from": line.spec, "to": new_spec, "from_sku": line.sku_id, "to_sku": new["sku_id"],
                       "product": line.name}
            await self._data_event(conn, order, EVENT_SPEC_CHANGED, at, "buyer", details)
            return await self._insert_record(
                conn, RecordKind.SPEC_CHANGE, at=at, buyer_id=buyer_id, order_id=order.order_id, data=details,
                state=RecordState.DONE, conversation_id=conversation_id)

    async def request_interception(self, order_id: str, *, buyer_id: str, reason: str = "",
                                   at: Optional[datetime] = None, conversation_id: Optional[str] = None) -> Record:
        at = self._at(at)
        async with self._conn(write=True) as conn:
            order = await self._owned(conn, order_id, buyer_id)
            if order.status not in SHIPPED_STATES:
                reason_code = "not_shipped" if order.status in CHANGEABLE_STATES else self._not_changeable(order).reason
                raise ChangeNotAllowed(order.order_id, order.status, reason_code)
            return await self._insert_record(
                conn, RecordKind.INTERCEPTION, at=at, buyer_id=buyer_id, order_id=order.order_id, text=reason,
                data=self._tracking_data(order), conversation_id=conversation_id)

    # ---- records about an order ---------------------------------------------------------------

    async def record_urge(self, order_id: str, *, buyer_id: str, note: str = "", at: Optional[datetime] = None,
                          conversation_id: Optional[str] = None) -> Record:
        at = self._at(at)
        async with self._conn(write=True) as conn:
            order = await self._owned(conn, order_id, buyer_id)
            earlier = (await conn.execute(
                sa.select(sa.func.count()).select_from(records_t).where(sa.and_(
                    records_t.c.kind == RecordKind.URGE.value, records_t.c.order_id == order.order_id,
                    records_t.c.buyer_id == buyer_id)))).scalar_one()
            data = {"status": order.status.value, "paid_at": order.paid_at.isoformat() if order.paid_at else None,
                    "urge_count": int(earlier) + 1}
            return await self._insert_record(conn, RecordKind.URGE, at=at, buyer_id=buyer_id,
                                             order_id=order.order_id, text=note, data=data,
                                             conversation_id=conversation_id)

    async def record_courier_follow_up(self, order_id: str, *, buyer_id: str, note: str = "",
                                       at: Optional[datetime] = None,
                                       conversation_id: Optional[str] = None) -> Record:
        at = self._at(at)
        async with self._conn(write=True) as conn:
            order = await self._owned(conn, order_id, buyer_id)
            return await self._insert_record(conn, RecordKind.COURIER_FOLLOW_UP, at=at, buyer_id=buyer_id,
                                             order_id=order.order_id, text=note, data=self._tracking_data(order),
                                             conversation_id=conversation_id)

    async def open_courier_investigation(self, order_id: str, *, buyer_id: str, note: str = "",
                                         at: Optional[datetime] = None,
                                         conversation_id: Optional[str] = None) -> Record:
        at = self._at(at)
        async with self._conn(write=True) as conn:
            order = await self._owned(conn, order_id, buyer_id)
            data = self._tracking_data(order)
            data.update(signed_by=order.signed_by,
                        delivered_at=order.delivered_at.isoformat() if order.delivered_at else None)
            return await self._insert_record(conn, RecordKind.COURIER_INVESTIGATION, at=at, buyer_id=buyer_id,
                                             order_id=order.order_id, text=note, data=data,
                                             conversation_id=conversation_id)

    async def add_order_note(self, order_id: str, *, buyer_id: str, kind: NoteKind, text: str,
                             at: Optional[datetime] = None, conversation_id: Optional[str] = None) -> Record:
        at = self._at(at)
        kind = NoteKind(kind)
        async with self._conn(write=True) as conn:
            order = await self._owned(conn, order_id, buyer_id)
            await self._data_event(conn, order, EVENT_NOTE_ADDED, at, "buyer", {"kind": kind.value, "text": text})
            return await self._insert_record(conn, RecordKind.ORDER_NOTE, at=at, buyer_id=buyer_id,
                                             order_id=order.order_id, text=text,
                                             data={"note_kind": kind.value, "status": order.status.value},
                                             conversation_id=conversation_id)

    # ---- other records ---------------------------------------------------------------------

    async def promise_follow_up(self, *, buyer_id: Optional[str], topic: str, due_at: datetime,
                                order_id: Optional[str] = None, at: Optional[datetime] = None,
                                conversation_id: Optional[str] = None) -> Record:
        at = self._at(at)
        due = self._at(due_at)
        async with self._conn(write=True) as conn:
            oid = None
            if order_id is not None:
                oid = (await self._owned(conn, order_id, buyer_id or "")).order_id
            return await self._insert_record(conn, RecordKind.FOLLOW_UP, at=at, buyer_id=buyer_id, order_id=oid,
                                             text=topic, data={}, due_at=due, conversation_id=conversation_id)

    async def record_question(self, *, text: str, buyer_id: Optional[str] = None, at: Optional[datetime] = None,
                              conversation_id: Optional[str] = None) -> Record:
        at = self._at(at)
        async with self._conn(write=True) as conn:
            return await self._insert_record(conn, RecordKind.QUESTION, at=at, buyer_id=buyer_id, text=text,
                                             conversation_id=conversation_id)

    async def record_suggestion(self, *, text: str, buyer_id: Optional[str] = None, at: Optional[datetime] = None,
                                conversation_id: Optional[str] = None) -> Record:
        at = self._at(at)
        async with self._conn(write=True) as conn:
            return await self._insert_record(conn, RecordKind.SUGGESTION, at=at, buyer_id=buyer_id, text=text,
                                             conversation_id=conversation_id)

    async def records_for(self, buyer_id: str, *, kind: Optional[RecordKind] = None,
                          order_id: Optional[str] = None) -> List[Record]:
        if not buyer_id:
            return []
        where = [records_t.c.buyer_id == buyer_id]
        if kind is not None:
            where.append(records_t.c.kind == RecordKind(kind).value)
        if order_id is not None:
            where.append(records_t.c.order_id == (normalize_order_id(order_id) or ""))
        async with self._conn() as conn:
            rows = (await conn.execute(sa.select(records_t).where(sa.and_(*where)).order_by(records_t.c.id))).mappings()
            return [self._record(r) for r in rows]

    # ---- store side ---------------------------------------------------------------------------

    async def open_records(self, *, kind: Optional[RecordKind] = None, due_before: Optional[datetime] = None,
                           limit: int = 100) -> List[Record]:
        where = [records_t.c.state == RecordState.OPEN.value]
        if kind is not None:
            where.append(records_t.c.kind == RecordKind(kind).value)
        if due_before is not None:
            where.append(records_t.c.due_at <= self._at(due_before))
        q = (sa.select(records_t).where(sa.and_(*where))
             .order_by(sa.func.coalesce(records_t.c.due_at, records_t.c.created_at), records_t.c.id).limit(limit))
        async with self._conn() as conn:
            return [self._record(r) for r in (await conn.execute(q)).mappings()]

    async def close_record(self, record_id: int, *, at: Optional[datetime] = None, note: str = "") -> Optional[Record]:
        at = self._at(at)
        async with self._conn(write=True) as conn:
            row = (await conn.execute(sa.select(records_t).where(records_t.c.id == int(record_id)))).mappings().first()
            if row is None:
                return None
            data = dict(row["data"] or {})
            if note:
                data["close_note"] = note
            await conn.execute(records_t.update().where(records_t.c.id == int(record_id))
                               .values(state=RecordState.DONE.value, closed_at=at, data=data))
            row = (await conn.execute(sa.select(records_t).where(records_t.c.id == int(record_id)))).mappings().first()
            return self._record(row)

    async def all_orders(self) -> List[Order]:
        """Every order, oldest first (tooling: `python -m shop.demo --json`)."""
        async with self._conn() as conn:
            return await self._orders_where(conn, sa.true(), newest_first=False)

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

    async def create_order(self, *, order_id: str, buyer_id: str, items: Sequence[Tuple[str, int]],
                           address: Optional[AddressInput] = None, at: Optional[datetime] = None,
                           shipping_fee: Any = 0, discount: Any = 0, buyer_note: str = "") -> Order:
        """A new unpaid order of (sku_id, qty) lines at today's (promotion) prices."""
        at = self._at(at)
        oid = normalize_order_id(order_id)
        if not oid:
            raise ValueError(f"not an order number: {order_id!r}")
        async with self._conn(write=True) as conn:
            if address is None:
                row = (await conn.execute(sa.select(addresses_t).where(addresses_t.c.buyer_id == buyer_id)
                                          .order_by(addresses_t.c.position, addresses_t.c.id))).mappings().first()
                if row is None:
                    raise NotFound(f"buyer {buyer_id!r} has no address")
                address = self._address(row)
            lines = []
            for sku_id, qty in items:
                sku = (await conn.execute(sa.select(skus_t).where(skus_t.c.sku_id == sku_id))).mappings().first()
                if sku is None:
                    raise NotFound(f"sku {sku_id!r} not found")
                product = (await self._products_where(conn, products_t.c.product_id == sku["product_id"]))[0]
                promo = product.promotion
                unit = sku["promo_price_fen"] if promo and promo.active(at) and sku["promo_price_fen"] else sku["price_fen"]
                lines.append(OrderItem(product_id=product.product_id, sku_id=sku_id, name=product.name,
                                       spec=" / ".join(p for p in (sku["color"], sku["size"]) if p), qty=int(qty),
                                       unit_price=fen_to_yuan(unit), weight_g=product.weight_g,
                                       free_shipping=product.free_shipping))
            goods = yuan(sum((i.amount for i in lines), yuan(0)))
            order = Order(order_id=oid, buyer_id=buyer_id, status=S.UNPAID, items=tuple(lines), goods_amount=goods,
                          shipping_fee=yuan(shipping_fee), discount=yuan(discount),
                          total=yuan(goods + yuan(shipping_fee) - yuan(discount)), ship_to=masked_address(address),
                          created_at=at, updated_at=at, buyer_note=buyer_note,
                          events=(OrderEvent(EVENT_CREATED, oid, at, "buyer", None, S.UNPAID),))
            await self._insert_orders(conn, [(order, address)])
        return order

    async def advance(self, order_id: str, new_status: OrderStatus, *, at: Optional[datetime] = None,
                      by: str = "store", note: str = "", **details: Any) -> Order:
        """Store-side status change (pay, ship, deliver, refund ...) through `transition()`."""
        at = self._at(at)
        oid = normalize_order_id(order_id)
        async with self._conn(write=True) as conn:
            found = await self._orders_where(conn, orders_t.c.order_id == (oid or ""), for_update=True)
            if not found:
                raise NotFound(f"order {order_id!r} not found")
            return await self._apply(conn, found[0], transition(found[0], new_status, at=at, by=by, note=note,
                                                                **details))

    async def add_tracking(self, order_id: str, event: TrackingEvent) -> None:
        oid = normalize_order_id(order_id)
        async with self._conn(write=True) as conn:
            await conn.execute(tracking_t.insert().values(order_id=oid, at=self._at(event.at), city=event.city,
                                                          station=event.station, text=event.text, code=event.code))

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
            prows.append(dict(
                product_id=p.product_id, position=pos, name=p.name, category=p.category,
                free_shipping=p.free_shipping, weight_g=p.weight_g, description=p.description, specs=dict(p.specs),
                faq=[{"q": f.q, "a": f.a} for f in p.faq], promo_name=promo.name if promo else None,
                promo_starts_at=promo.starts_at if promo else None, promo_ends_at=promo.ends_at if promo else None,
                coupon_threshold_fen=_fen(coupon.threshold) if coupon else None,
                coupon_amount_fen=_fen(coupon.amount) if coupon else None))
            for spos, s in enumerate(p.skus):
                srows.append(dict(sku_id=s.sku_id, product_id=p.product_id, position=spos, color=s.color, size=s.size,
                                  price_fen=_fen(s.price), promo_price_fen=_fen(s.promo_price), stock=s.stock,
                                  restock_date=s.restock_date))
        if prows:
            await conn.execute(products_t.insert(), prows)
        if srows:
            await conn.execute(skus_t.insert(), srows)

    @staticmethod
    async def _insert_buyers(conn: AsyncConnection, buyers: Sequence[BuyerInput]) -> None:
        brows, arows = [], []
        for b in buyers:
            brows.append(dict(buyer_id=b.buyer_id, name=b.name, gender=Gender(b.gender).value, phone=b.phone,
                              created_at=b.created_at))
            for pos, a in enumerate(b.addresses):
                arows.append(dict(buyer_id=b.buyer_id, position=pos, recipient=a.recipient, phone=a.phone,
                                  province=a.province, city=a.city, district=a.district, detail=a.detail))
        if brows:
            await conn.execute(buyers_t.insert(), brows)
        if arows:
            await conn.execute(addresses_t.insert(), arows)

    @staticmethod
    async def _insert_orders(conn: AsyncConnection, orders: Sequence[Tuple[Order, AddressInput]]) -> None:
        orows, irows, trows, erows = [], [], [], []
        for o, a in orders:
            orows.append(dict(
                order_id=o.order_id, buyer_id=o.buyer_id, status=o.status.value, created_at=o.created_at,
                updated_at=o.updated_at, **{n: getattr(o, n) for n in _ORDER_TIMES},
                goods_fen=_fen(o.goods_amount), shipping_fen=_fen(o.shipping_fee), discount_fen=_fen(o.discount),
                total_fen=_fen(o.total), recipient=a.recipient, phone=a.phone, province=a.province, city=a.city,
                district=a.district, detail=a.detail, courier=o.courier, tracking_no=o.tracking_no,
                signed_by=o.signed_by, buyer_note=o.buyer_note))
            for pos, i in enumerate(o.items):
                irows.append(dict(order_id=o.order_id, position=pos, product_id=i.product_id, sku_id=i.sku_id,
                                  name=i.name, spec=i.spec, qty=i.qty, unit_price_fen=_fen(i.unit_price),
                                  weight_g=i.weight_g, free_shipping=i.free_shipping))
            for t in o.tracking:
                trows.append(dict(order_id=o.order_id, at=t.at, city=t.city, station=t.station, text=t.text,
                                  code=t.code))
            for e in o.events:
                erows.append(dict(order_id=o.order_id, name=e.name, at=e.at, by=e.by,
                                  from_status=e.from_status.value if e.from_status else None,
                                  to_status=e.to_status.value if e.to_status else None, note=e.note or "",
                                  details=e.details or {}))
        for table, rows in ((orders_t, orows), (items_t, irows), (tracking_t, trows), (events_t, erows)):
            if rows:
                await conn.execute(table.insert(), rows)
