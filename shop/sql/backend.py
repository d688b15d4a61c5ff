"""`SqlShop`: the default `ShopBackend`, SQLAlchemy 1.4 async (SQLite or PostgreSQL):
lifecycle, then the backend API the assistant calls (catalogue, buyers, orders, the
changes a buyer asks for, records). The store-side operations are in store_side.py."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from typing import Any, AsyncIterator, Callable, Dict, List, Optional, Sequence

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shop.backend import ShopBackend
from shop.config import shop_db_url
from shop.errors import BackendUnavailable, ChangeNotAllowed, NotFound, OrderNotFound, OutOfStock
from shop.ids import normalize_order_id
from shop.masking import mask_address, mask_name, mask_phone, masked_address, surname_of
from shop.models import (
    AddressInput,
    Buyer,
    CancelOutcome,
    Gender,
    NoteKind,
    Order,
    Product,
    Record,
    RecordKind,
    RecordState,
    ReturnReason,
    Sku,
    fen_to_yuan,
    photos_tuple,
)
from shop.sql import rows
from shop.sql.rows import _json_dumps, _yuan
from shop.sql.schema import addresses_t, buyers_t, events_t, items_t, metadata, orders_t, products_t, records_t, skus_t
from shop.sql.store_side import StoreSide
from shop.status import (
    CHANGEABLE_STATES,
    EVENT_ADDRESS_CHANGED,
    EVENT_NOTE_ADDED,
    EVENT_PHONE_CHANGED,
    EVENT_SPEC_CHANGED,
    SHIPPED_STATES,
    TIMESTAMP_FIELD,
    OrderEvent,
    OrderStatus,
    apply,
    transition,
)
from shop.timeutil import utcnow
from xiaoer.db import WRITE, is_sqlite_memory, open_engine
from xiaoer.lexicon import PHONE_RE

S = OrderStatus


@asynccontextmanager
async def _no_lock() -> AsyncIterator[None]:
    yield


class SqlShop(StoreSide, ShopBackend):
    """`ShopBackend` over SQLAlchemy async. `SqlShop("sqlite+aiosqlite://")` is an in-memory store."""

    def __init__(
        self, url: Optional[str] = None, *, clock: Callable[[], datetime] = utcnow, echo: bool = False
    ) -> None:
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
        # the action server reads while the demo command or the desk writes: WAL etc. in xiaoer/db.py;
        # changes take the write lock at BEGIN (execution option WRITE, see `_conn`)
        return open_engine(
            self.url,
            foreign_keys=True,
            immediate_writes=True,
            timeout=15,
            pool_size=5,
            max_overflow=5,
            echo=self._echo,
            json_serializer=_json_dumps,
        )

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
                        await conn.execution_options(**{WRITE: True})
                        async with conn.begin():
                            yield conn
                    else:
                        yield conn
        except (
            sa_exc.OperationalError,
            sa_exc.InterfaceError,
            sa_exc.DisconnectionError,
            ConnectionError,
            OSError,
        ) as e:
            raise BackendUnavailable(f"shop database unavailable: {e}") from e

    def _at(self, at: Optional[datetime]) -> datetime:
        t = at or self._clock()
        if t.tzinfo is None:
            raise ValueError("naive datetime: pass timezone-aware times to the shop backend")
        return t.astimezone(timezone.utc)

    # ---- catalogue ---------------------------------------------------------------------

    async def get_product(self, product_id: str) -> Optional[Product]:
        async with self._conn() as conn:
            found = await rows.products_where(conn, products_t.c.product_id == str(product_id))
        return found[0] if found else None

    async def find_products(
        self,
        *,
        category: Optional[str] = None,
        text: Optional[str] = None,
        color: Optional[str] = None,
        size: Optional[str] = None,
        in_stock: Optional[bool] = None,
        limit: int = 10,
    ) -> List[Product]:
        async with self._conn() as conn:
            where = products_t.c.category == category if category else None
            products = await rows.products_where(conn, where)
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
        return Sku(
            sku_id=row["sku_id"],
            product_id=row["product_id"],
            color=row["color"],
            size=row["size"],
            price=fen_to_yuan(row["price_fen"]),
            stock=row["stock"],
            promo_price=_yuan(row["promo_price_fen"]),
            restock_date=row["restock_date"],
        )

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
            addr = (
                (
                    await conn.execute(
                        sa.select(addresses_t)
                        .where(addresses_t.c.buyer_id == buyer_id)
                        .order_by(addresses_t.c.position, addresses_t.c.id)
                    )
                )
                .mappings()
                .all()
            )
        return Buyer(
            buyer_id=row["buyer_id"],
            surname=surname_of(row["name"]),
            gender=Gender(row["gender"]),
            name=mask_name(row["name"]),
            phone=mask_phone(row["phone"]),
            addresses=tuple(masked_address(rows.address(a)) for a in addr),
        )

    # ---- orders: reads --------------------------------------------------------------------

    async def get_order(self, order_id: str, *, buyer_id: str) -> Optional[Order]:
        oid = normalize_order_id(order_id)
        if not oid or not buyer_id:
            return None
        async with self._conn() as conn:
            found = await rows.orders_where(conn, sa.and_(orders_t.c.order_id == oid, orders_t.c.buyer_id == buyer_id))
        return found[0] if found else None

    async def recent_orders(
        self, buyer_id: str, *, limit: int = 5, statuses: Optional[Sequence[OrderStatus]] = None
    ) -> List[Order]:
        if not buyer_id:
            return []
        where = orders_t.c.buyer_id == buyer_id
        if statuses:
            where = sa.and_(where, orders_t.c.status.in_([S(s).value for s in statuses]))
        async with self._conn() as conn:
            return await rows.orders_where(conn, where, limit=limit)

    async def _owned(self, conn: AsyncConnection, order_id: str, buyer_id: str) -> Order:
        """The buyer's order, locked for the change; OrderNotFound alike for unknown and foreign."""
        oid = normalize_order_id(order_id)
        if not oid or not buyer_id:
            raise OrderNotFound(order_id)
        found = await rows.orders_where(
            conn, sa.and_(orders_t.c.order_id == oid, orders_t.c.buyer_id == buyer_id), for_update=True
        )
        if not found:
            raise OrderNotFound(order_id)
        return found[0]

    # ---- writing helpers ------------------------------------------------------------------

    @staticmethod
    async def _insert_event(conn: AsyncConnection, ev: OrderEvent) -> None:
        await conn.execute(
            events_t.insert().values(
                order_id=ev.order_id,
                name=ev.name,
                at=ev.at,
                by=ev.by,
                from_status=ev.from_status.value if ev.from_status else None,
                to_status=ev.to_status.value if ev.to_status else None,
                note=ev.note or "",
                details=ev.details or {},
            )
        )

    async def _apply(self, conn: AsyncConnection, order: Order, ev: OrderEvent) -> Order:
        new = apply(order, ev)
        values: Dict[str, Any] = {
            "status": new.status.value,
            "updated_at": new.updated_at,
            "courier": new.courier,
            "tracking_no": new.tracking_no,
            "signed_by": new.signed_by,
        }
        for f in TIMESTAMP_FIELD.values():
            values[f] = getattr(new, f)
        await conn.execute(orders_t.update().where(orders_t.c.order_id == order.order_id).values(**values))
        await self._insert_event(conn, ev)
        return new

    async def _data_event(
        self,
        conn: AsyncConnection,
        order: Order,
        name: str,
        at: datetime,
        by: str,
        details: Dict[str, Any],
        note: str = "",
        **order_values: Any,
    ) -> OrderEvent:
        ev = OrderEvent(name=name, order_id=order.order_id, at=at, by=by, note=note, details=details)
        await conn.execute(
            orders_t.update()
            .where(orders_t.c.order_id == order.order_id)
            .values(updated_at=max(order.updated_at, at), **order_values)
        )
        await self._insert_event(conn, ev)
        return ev

    async def _insert_record(
        self,
        conn: AsyncConnection,
        kind: RecordKind,
        *,
        at: datetime,
        buyer_id: Optional[str],
        order_id: Optional[str] = None,
        text: str = "",
        data: Optional[Dict[str, Any]] = None,
        state: RecordState = RecordState.OPEN,
        due_at: Optional[datetime] = None,
        conversation_id: Optional[str] = None,
    ) -> Record:
        values = dict(
            kind=kind.value,
            buyer_id=buyer_id,
            order_id=order_id,
            created_at=at,
            state=state.value,
            text=text or "",
            data=data or {},
            due_at=due_at,
            conversation_id=conversation_id,
            closed_at=at if state == RecordState.DONE else None,
        )
        res = await conn.execute(records_t.insert().values(**values))
        rid = res.inserted_primary_key[0]
        return Record(
            record_id=rid,
            kind=kind,
            buyer_id=buyer_id,
            order_id=order_id,
            created_at=at,
            state=state,
            text=text or "",
            data=dict(data or {}),
            due_at=due_at,
            conversation_id=conversation_id,
            closed_at=values["closed_at"],
        )

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
            "status": order.status.value,
            "courier": order.courier,
            "tracking_no": order.tracking_no,
            "last_city": last.city if last else None,
            "last_station": last.station if last else None,
            "last_event_at": last.at.isoformat() if last else None,
        }

    # ---- orders: changes the buyer asked for -------------------------------------------------

    async def cancel_order(
        self,
        order_id: str,
        *,
        buyer_id: str,
        reason: str = "",
        at: Optional[datetime] = None,
        conversation_id: Optional[str] = None,
    ) -> CancelOutcome:
        at = self._at(at)
        async with self._conn(write=True) as conn:
            order = await self._owned(conn, order_id, buyer_id)
            st = order.status
            if st == S.UNPAID:
                order = await self._apply(conn, order, transition(order, S.CANCELLED, at=at, by="buyer", note=reason))
                rec = await self._insert_record(
                    conn,
                    RecordKind.CANCEL_REQUEST,
                    at=at,
                    buyer_id=buyer_id,
                    order_id=order.order_id,
                    text=reason,
                    data={"outcome": "cancelled", "from_status": st.value},
                    state=RecordState.DONE,
                    conversation_id=conversation_id,
                )
                return CancelOutcome("cancelled", order, rec)
            if st == S.PAID:
                ev = transition(
                    order,
                    S.REFUND_REQUESTED,
                    at=at,
                    by="buyer",
                    note=reason,
                    reason=ReturnReason.NON_QUALITY.value,
                    refund_only=True,
                )
                order = await self._apply(conn, order, ev)
                rec = await self._insert_record(
                    conn,
                    RecordKind.CANCEL_REQUEST,
                    at=at,
                    buyer_id=buyer_id,
                    order_id=order.order_id,
                    text=reason,
                    data={"outcome": "refund_requested", "from_status": st.value, "refund": str(order.total)},
                    conversation_id=conversation_id,
                )
                return CancelOutcome("refund_requested", order, rec)
        if st in SHIPPED_STATES:
            return CancelOutcome("intercept_or_return", order)
        if st in (S.DELIVERED, S.COMPLETED):
            return CancelOutcome("return", order)
        return CancelOutcome("not_applicable", order)

    async def request_return(
        self,
        order_id: str,
        *,
        buyer_id: str,
        reason: ReturnReason,
        description: str = "",
        photos: Sequence[str] = (),
        at: Optional[datetime] = None,
        conversation_id: Optional[str] = None,
    ) -> Record:
        at = self._at(at)
        reason = ReturnReason(reason)
        pics = list(photos_tuple(photos))
        async with self._conn(write=True) as conn:
            order = await self._owned(conn, order_id, buyer_id)
            before = order.status
            ev = transition(
                order,
                S.REFUND_REQUESTED,
                at=at,
                by="buyer",
                note=description,
                reason=reason.value,
                refund_only=before == S.PAID,
                photos=pics,
            )
            await self._apply(conn, order, ev)
            return await self._insert_record(
                conn,
                RecordKind.RETURN_REQUEST,
                at=at,
                buyer_id=buyer_id,
                order_id=order.order_id,
                text=description,
                data={
                    "reason": reason.value,
                    "photos": pics,
                    "from_status": before.value,
                    "refund_only": before == S.PAID,
                    "amount": str(order.total),
                },
                conversation_id=conversation_id,
            )

    async def add_photos(
        self, record_id: int, *, buyer_id: str, photos: Sequence[str], at: Optional[datetime] = None
    ) -> Record:
        at = self._at(at)
        async with self._conn(write=True) as conn:
            row = (
                (
                    await conn.execute(
                        sa.select(records_t).where(
                            sa.and_(
                                records_t.c.id == int(record_id),
                                records_t.c.buyer_id == (buyer_id or ""),
                                records_t.c.kind == RecordKind.RETURN_REQUEST.value,
                            )
                        )
                    )
                )
                .mappings()
                .first()
            )
            if row is None:
                raise NotFound(f"record {record_id!r} not found")
            data = dict(row["data"] or {})
            data["photos"] = list(data.get("photos") or []) + list(photos_tuple(photos))
            data["photos_added_at"] = at.isoformat()
            await conn.execute(records_t.update().where(records_t.c.id == row["id"]).values(data=data))
            return rows.record({**row, "data": data})

    async def change_address(
        self,
        order_id: str,
        *,
        buyer_id: str,
        address: AddressInput,
        at: Optional[datetime] = None,
        conversation_id: Optional[str] = None,
    ) -> Record:
        at = self._at(at)
        async with self._conn(write=True) as conn:
            order = await self._owned(conn, order_id, buyer_id)
            if order.status not in CHANGEABLE_STATES:
                raise self._not_changeable(order)
            old, new = order.ship_to.text, mask_address(address)
            details = {"from": old, "to": new}
            await self._data_event(
                conn,
                order,
                EVENT_ADDRESS_CHANGED,
                at,
                "buyer",
                details,
                recipient=address.recipient,
                phone=address.phone,
                province=address.province,
                city=address.city,
                district=address.district,
                detail=address.detail,
            )
            return await self._insert_record(
                conn,
                RecordKind.ADDRESS_CHANGE,
                at=at,
                buyer_id=buyer_id,
                order_id=order.order_id,
                data=details,
                state=RecordState.DONE,
                conversation_id=conversation_id,
            )

    async def change_phone(
        self,
        order_id: str,
        *,
        buyer_id: str,
        phone: str,
        at: Optional[datetime] = None,
        conversation_id: Optional[str] = None,
    ) -> Record:
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
                conn,
                RecordKind.PHONE_CHANGE,
                at=at,
                buyer_id=buyer_id,
                order_id=order.order_id,
                data=details,
                state=RecordState.DONE,
                conversation_id=conversation_id,
            )

    async def change_spec(
        self,
        order_id: str,
        *,
        buyer_id: str,
        new_sku_id: str,
        old_sku_id: Optional[str] = None,
        at: Optional[datetime] = None,
        conversation_id: Optional[str] = None,
    ) -> Record:
        at = self._at(at)
        async with self._conn(write=True) as conn:
            order = await self._owned(conn, order_id, buyer_id)
            if order.status not in CHANGEABLE_STATES:
                raise self._not_changeable(order)
            new = (await conn.execute(sa.select(skus_t).where(skus_t.c.sku_id == new_sku_id))).mappings().first()
            if new is None:
                raise NotFound(f"sku {new_sku_id!r} not found")
            lines = [
                (i, it)
                for i, it in enumerate(order.items)
                if it.product_id == new["product_id"] and (old_sku_id is None or it.sku_id == old_sku_id)
            ]
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
            await conn.execute(
                skus_t.update().where(skus_t.c.sku_id == new["sku_id"]).values(stock=skus_t.c.stock - line.qty)
            )
            if old is not None:
                await conn.execute(
                    skus_t.update().where(skus_t.c.sku_id == old["sku_id"]).values(stock=skus_t.c.stock + line.qty)
                )
            await conn.execute(
                items_t.update()
                .where(sa.and_(items_t.c.order_id == order.order_id, items_t.c.position == pos))
                .values(sku_id=new["sku_id"], spec=new_spec)
            )
            details = {
                "from": line.spec,
                "to": new_spec,
                "from_sku": line.sku_id,
                "to_sku": new["sku_id"],
                "product": line.name,
            }
            await self._data_event(conn, order, EVENT_SPEC_CHANGED, at, "buyer", details)
            return await self._insert_record(
                conn,
                RecordKind.SPEC_CHANGE,
                at=at,
                buyer_id=buyer_id,
                order_id=order.order_id,
                data=details,
                state=RecordState.DONE,
                conversation_id=conversation_id,
            )

    async def request_interception(
        self,
        order_id: str,
        *,
        buyer_id: str,
        reason: str = "",
        at: Optional[datetime] = None,
        conversation_id: Optional[str] = None,
    ) -> Record:
        at = self._at(at)
        async with self._conn(write=True) as conn:
            order = await self._owned(conn, order_id, buyer_id)
            if order.status not in SHIPPED_STATES:
                reason_code = "not_shipped" if order.status in CHANGEABLE_STATES else self._not_changeable(order).reason
                raise ChangeNotAllowed(order.order_id, order.status, reason_code)
            return await self._insert_record(
                conn,
                RecordKind.INTERCEPTION,
                at=at,
                buyer_id=buyer_id,
                order_id=order.order_id,
                text=reason,
                data=self._tracking_data(order),
                conversation_id=conversation_id,
            )

    # ---- records about an order ---------------------------------------------------------------

    async def record_urge(
        self,
        order_id: str,
        *,
        buyer_id: str,
        note: str = "",
        at: Optional[datetime] = None,
        conversation_id: Optional[str] = None,
    ) -> Record:
        at = self._at(at)
        async with self._conn(write=True) as conn:
            order = await self._owned(conn, order_id, buyer_id)
            earlier = (
                await conn.execute(
                    sa.select(sa.func.count())
                    .select_from(records_t)
                    .where(
                        sa.and_(
                            records_t.c.kind == RecordKind.URGE.value,
                            records_t.c.order_id == order.order_id,
                            records_t.c.buyer_id == buyer_id,
                        )
                    )
                )
            ).scalar_one()
            data = {
                "status": order.status.value,
                "paid_at": order.paid_at.isoformat() if order.paid_at else None,
                "urge_count": int(earlier) + 1,
            }
            return await self._insert_record(
                conn,
                RecordKind.URGE,
                at=at,
                buyer_id=buyer_id,
                order_id=order.order_id,
                text=note,
                data=data,
                conversation_id=conversation_id,
            )

    async def record_courier_follow_up(
        self,
        order_id: str,
        *,
        buyer_id: str,
        note: str = "",
        at: Optional[datetime] = None,
        conversation_id: Optional[str] = None,
    ) -> Record:
        at = self._at(at)
        async with self._conn(write=True) as conn:
            order = await self._owned(conn, order_id, buyer_id)
            return await self._insert_record(
                conn,
                RecordKind.COURIER_FOLLOW_UP,
                at=at,
                buyer_id=buyer_id,
                order_id=order.order_id,
                text=note,
                data=self._tracking_data(order),
                conversation_id=conversation_id,
            )

    async def open_courier_investigation(
        self,
        order_id: str,
        *,
        buyer_id: str,
        note: str = "",
        at: Optional[datetime] = None,
        conversation_id: Optional[str] = None,
    ) -> Record:
        at = self._at(at)
        async with self._conn(write=True) as conn:
            order = await self._owned(conn, order_id, buyer_id)
            data = self._tracking_data(order)
            data.update(
                signed_by=order.signed_by, delivered_at=order.delivered_at.isoformat() if order.delivered_at else None
            )
            return await self._insert_record(
                conn,
                RecordKind.COURIER_INVESTIGATION,
                at=at,
                buyer_id=buyer_id,
                order_id=order.order_id,
                text=note,
                data=data,
                conversation_id=conversation_id,
            )

    async def add_order_note(
        self,
        order_id: str,
        *,
        buyer_id: str,
        kind: NoteKind,
        text: str,
        at: Optional[datetime] = None,
        conversation_id: Optional[str] = None,
    ) -> Record:
        at = self._at(at)
        kind = NoteKind(kind)
        async with self._conn(write=True) as conn:
            order = await self._owned(conn, order_id, buyer_id)
            await self._data_event(conn, order, EVENT_NOTE_ADDED, at, "buyer", {"kind": kind.value, "text": text})
            return await self._insert_record(
                conn,
                RecordKind.ORDER_NOTE,
                at=at,
                buyer_id=buyer_id,
                order_id=order.order_id,
                text=text,
                data={"note_kind": kind.value, "status": order.status.value},
                conversation_id=conversation_id,
            )

    # ---- other records ---------------------------------------------------------------------

    async def promise_follow_up(
        self,
        *,
        buyer_id: Optional[str],
        topic: str,
        due_at: datetime,
        order_id: Optional[str] = None,
        at: Optional[datetime] = None,
        conversation_id: Optional[str] = None,
    ) -> Record:
        at = self._at(at)
        due = self._at(due_at)
        async with self._conn(write=True) as conn:
            oid = None
            if order_id is not None:
                oid = (await self._owned(conn, order_id, buyer_id or "")).order_id
            return await self._insert_record(
                conn,
                RecordKind.FOLLOW_UP,
                at=at,
                buyer_id=buyer_id,
                order_id=oid,
                text=topic,
                data={},
                due_at=due,
                conversation_id=conversation_id,
            )

    async def record_question(
        self,
        *,
        text: str,
        buyer_id: Optional[str] = None,
        at: Optional[datetime] = None,
        conversation_id: Optional[str] = None,
    ) -> Record:
        at = self._at(at)
        async with self._conn(write=True) as conn:
            return await self._insert_record(
                conn, RecordKind.QUESTION, at=at, buyer_id=buyer_id, text=text, conversation_id=conversation_id
            )

    async def record_suggestion(
        self,
        *,
        text: str,
        buyer_id: Optional[str] = None,
        at: Optional[datetime] = None,
        conversation_id: Optional[str] = None,
    ) -> Record:
        at = self._at(at)
        async with self._conn(write=True) as conn:
            return await self._insert_record(
                conn, RecordKind.SUGGESTION, at=at, buyer_id=buyer_id, text=text, conversation_id=conversation_id
            )

    async def records_for(
        self, buyer_id: str, *, kind: Optional[RecordKind] = None, order_id: Optional[str] = None
    ) -> List[Record]:
        if not buyer_id:
            return []
        where = [records_t.c.buyer_id == buyer_id]
        if kind is not None:
            where.append(records_t.c.kind == RecordKind(kind).value)
        if order_id is not None:
            where.append(records_t.c.order_id == (normalize_order_id(order_id) or ""))
        async with self._conn() as conn:
            found = (
                await conn.execute(sa.select(records_t).where(sa.and_(*where)).order_by(records_t.c.id))
            ).mappings()
            return [rows.record(r) for r in found]

    # ---- records due -------------------------------------------------------------------------

    async def open_records(
        self, *, kind: Optional[RecordKind] = None, due_before: Optional[datetime] = None, limit: int = 100
    ) -> List[Record]:
        where = [records_t.c.state == RecordState.OPEN.value]
        if kind is not None:
            where.append(records_t.c.kind == RecordKind(kind).value)
        if due_before is not None:
            where.append(records_t.c.due_at <= self._at(due_before))
        q = (
            sa.select(records_t)
            .where(sa.and_(*where))
            .order_by(sa.func.coalesce(records_t.c.due_at, records_t.c.created_at), records_t.c.id)
            .limit(limit)
        )
        async with self._conn() as conn:
            return [rows.record(r) for r in (await conn.execute(q)).mappings()]

    async def close_record(self, record_id: int, *, at: Optional[datetime] = None, note: str = "") -> Optional[Record]:
        at = self._at(at)
        async with self._conn(write=True) as conn:
            row = (await conn.execute(sa.select(records_t).where(records_t.c.id == int(record_id)))).mappings().first()
            if row is None:
                return None
            data = dict(row["data"] or {})
            if note:
                data["close_note"] = note
            await conn.execute(
                records_t.update()
                .where(records_t.c.id == int(record_id))
                .values(state=RecordState.DONE.value, closed_at=at, data=data)
            )
            row = (await conn.execute(sa.select(records_t).where(records_t.c.id == int(record_id)))).mappings().first()
            return rows.record(row)
