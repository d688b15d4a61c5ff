"""The shop's tables (prefixed `shop_`, so the shop can share a PostgreSQL database with
Rasa's tracker store). Money is stored in fen (integers), times as naive UTC.
A change here needs an Alembic migration (migrations/shop/)."""

from __future__ import annotations

from datetime import timezone

import sqlalchemy as sa


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
    "shop_meta",
    metadata,
    sa.Column("key", _str(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)
products_t = sa.Table(
    "shop_products",
    metadata,
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
    "shop_skus",
    metadata,
    sa.Column("sku_id", _str(40), primary_key=True),
    sa.Column(
        "product_id",
        _str(32),
        sa.ForeignKey("shop_products.product_id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("position", sa.Integer, nullable=False, default=0),
    sa.Column("color", _str(16)),
    sa.Column("size", _str(40)),
    sa.Column("price_fen", sa.Integer, nullable=False),
    sa.Column("promo_price_fen", sa.Integer),
    sa.Column("stock", sa.Integer, nullable=False),
    sa.Column("restock_date", sa.Date),
)
buyers_t = sa.Table(
    "shop_buyers",
    metadata,
    sa.Column("buyer_id", _str(64), primary_key=True),
    sa.Column("name", _str(40), nullable=False),
    sa.Column("gender", _str(1), nullable=False),
    sa.Column("phone", _str(20), nullable=False),
    sa.Column("created_at", T),
)
addresses_t = sa.Table(
    "shop_addresses",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "buyer_id", _str(64), sa.ForeignKey("shop_buyers.buyer_id", ondelete="CASCADE"), nullable=False, index=True
    ),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("recipient", _str(40), nullable=False),
    sa.Column("phone", _str(20), nullable=False),
    sa.Column("province", _str(20), nullable=False),
    sa.Column("city", _str(20), nullable=False),
    sa.Column("district", _str(20), nullable=False),
    sa.Column("detail", _str(200), nullable=False),
)
_ORDER_TIMES = (
    "paid_at",
    "shipped_at",
    "delivered_at",
    "completed_at",
    "cancelled_at",
    "refund_requested_at",
    "refunded_at",
    "closed_at",
)
orders_t = sa.Table(
    "shop_orders",
    metadata,
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
    "shop_order_items",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "order_id", _str(32), sa.ForeignKey("shop_orders.order_id", ondelete="CASCADE"), nullable=False, index=True
    ),
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
    "shop_tracking_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "order_id", _str(32), sa.ForeignKey("shop_orders.order_id", ondelete="CASCADE"), nullable=False, index=True
    ),
    sa.Column("at", T, nullable=False),
    sa.Column("city", _str(20), nullable=False),
    sa.Column("station", _str(60), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("code", _str(20), nullable=False, default=""),
)
events_t = sa.Table(
    "shop_order_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "order_id", _str(32), sa.ForeignKey("shop_orders.order_id", ondelete="CASCADE"), nullable=False, index=True
    ),
    sa.Column("name", _str(40), nullable=False),
    sa.Column("at", T, nullable=False),
    sa.Column("by", _str(40), nullable=False),
    sa.Column("from_status", _str(24)),
    sa.Column("to_status", _str(24)),
    sa.Column("note", sa.Text, nullable=False, default=""),
    sa.Column("details", sa.JSON, nullable=False),
)
records_t = sa.Table(
    "shop_records",
    metadata,
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
